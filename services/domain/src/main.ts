import { runService } from '../../../shared/runtime/run-service';
import { loadDomainConfig } from './config';
import { startDomainService } from './server';

runService({ name: 'domain', loadConfig: loadDomainConfig, start: startDomainService });
