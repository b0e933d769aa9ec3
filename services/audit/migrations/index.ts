import type { Migration } from '../../../shared/db/migrator';
import { createActionLog } from './20261126-0001-create-action-log';
import { identityAndOutcome } from './20261126-0002-identity-and-outcome';
import { entityIdIndex } from './20261126-0003-entity-id-index';

/** Every migration of the audit database, oldest first. Append new ones; never edit applied ones. */
export const auditMigrations: readonly Migration[] = [createActionLog, identityAndOutcome, entityIdIndex];
