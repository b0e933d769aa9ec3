import { runService } from '../../../shared/runtime/run-service';
import { loadAuditConfig } from './config';
import { startAuditService } from './server';

runService({ name: 'audit', loadConfig: loadAuditConfig, start: startAuditService });
