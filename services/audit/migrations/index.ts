import type { Migration } from '../../../shared/db/migrator';
import { createActionLog } from './20261126-0001-create-action-log';

/** Every migration of the audit database, oldest first. Append new ones; never edit applied ones. */
export const auditMigrations: readonly Migration[] = [createActionLog];
