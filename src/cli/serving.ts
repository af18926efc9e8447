// What a front door (serve-fuse-dev, serve-vhost-user) hands back to the command: the session, for
// its statistics, and how to stop it.
import type { FuseServer } from '../server/session';

export interface Serving {
  server: FuseServer;
  stop(): void;
}
