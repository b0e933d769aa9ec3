import type { Migration } from '../../../shared/db/migrator';
import { createDomainSchema } from './20261126-0001-create-domain-schema';
import { engineLeases } from './20261126-0002-engine-leases';
import { outboxIdentity } from './20261126-0003-outbox-identity';
import { runNotificationTriggers } from './20261126-0004-run-notification-triggers';

/** Every migration of the domain database, oldest first. Append new ones; never edit applied ones. */
export const domainMigrations: readonly Migration[] = [createDomainSchema, engineLeases, outboxIdentity, runNotificationTriggers];
