// What the item-5 options (virtiofsd's --posix-acl, --security-label, --writeback, --allow-mmap) ask of the INIT
// negotiation, the same on both front doors (src/server/init.ts decides what the client gets).
import type { Config } from './options';
import type { ServerWants } from '../server/init';

export function optionWants(cfg: Config): Pick<ServerWants, 'aclMode' | 'labelMode' | 'writeback' | 'allowMmap'> {
  return { aclMode: cfg.posixAcl, labelMode: cfg.securityLabel, writeback: cfg.writeback, allowMmap: cfg.allowMmap };
}
