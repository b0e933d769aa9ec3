/** A List page of resources ordered by name: a filter's SQL, and the keyset cursor (names after `afterName`). */
export interface NameKeysetQuery {
  readonly where: string;
  readonly bind: readonly unknown[];
  readonly afterName: string | undefined;
  readonly limit: number;
}
