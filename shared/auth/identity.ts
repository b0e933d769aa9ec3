/** What kind of party acts: a person (or client for one), a service, or the control plane itself. */
export type ActorType = 'USER' | 'SERVICE' | 'SYSTEM';

/** Who is calling, as established by the auth interceptor for every call. */
export interface Identity {
  /** The actor recorded for the call: the token's `sub` (jwt mode) or `x-user-id` (header mode). */
  readonly actorId: string;
  readonly actorType: ActorType;
  /** Verified subject and issuer; empty when nothing was verified. */
  readonly subject: string;
  readonly issuer: string;
  readonly verified: boolean;
  /** Roles from the token's roles claim (jwt mode); empty in header mode. */
  readonly roles: readonly string[];
  /** An `x-user-id` the caller sent that differs from the verified identity (never used as actor). */
  readonly unverifiedActorId: string;
}

/** A caller that could not be authenticated; what it claimed to be is kept, marked unverified. */
export function anonymous(claimedActorId: string): Identity {
  return {
    actorId: 'anonymous',
    actorType: 'USER',
    subject: '',
    issuer: '',
    verified: false,
    roles: [],
    unverifiedActorId: claimedActorId === 'system' ? '' : claimedActorId,
  };
}
