// The share's persistent state as the running process uses it: loaded (with backup recovery) at
// start, checkpointed to the state dir shortly after the remap registry changes, and saved to the
// state dir and then the backup dir at stop. Without --state-dir the registry lives in memory only:
// remapped numbers then hold for this run but not across restarts (said once in the log).
import { DeviceRegistry } from '../state/device-registry';
import { openShareStateStore, ShareState } from '../state/share-state';
import type { StateStore } from '../state/state-store';
import type { Logger } from '../log/logger';
import type { AsDaemon } from '../passthrough/device-map';

/** how often the registry's generation is compared with the last saved one */
const CHECKPOINT_DELAY_MS = 200;

export class ShareStateKeeper {
  readonly state: ShareState;
  private readonly store: StateStore<ShareState> | null;
  private savedGeneration: number;
  private watcher: NodeJS.Timeout | null = null;

  /**
   * @param asDaemon runs fn with the daemon's own credentials: the serving thread may be switched
   *   to a caller's, who may not write the state dirs (Credentials.privileged)
   */
  constructor(stateDir: string | null, backupDir: string | null, private readonly log: Logger, private readonly asDaemon: AsDaemon) {
    if (!stateDir) {
      this.store = null;
      this.state = { deviceRegistry: new DeviceRegistry() };
      if (backupDir) log.warn('--state-backup-dir without --state-dir has no effect');
    } else {
      this.store = openShareStateStore({
        stateDir, backupDir: backupDir ?? undefined,
        logger: log,
      });
      const r = this.store.load();
      this.state = r.value;
      log.info('state loaded', { from: r.source, state_dir: stateDir, backup_removed: r.backupRemoved });
    }
    this.savedGeneration = this.state.deviceRegistry.generation;
  }

  /** Watches the registry and checkpoints it soon after it changes (one timer, cheap to poll). */
  watch(): void {
    if (!this.store || this.watcher) return;
    this.watcher = setInterval(() => this.checkpointIfChanged(), CHECKPOINT_DELAY_MS);
    this.watcher.unref();
  }

  private checkpointIfChanged(): void {
    const g = this.state.deviceRegistry.generation;
    if (!this.store || g === this.savedGeneration) return;
    try {
      this.asDaemon(() => this.store!.checkpoint(this.state));
      this.savedGeneration = g;
    } catch (e) {
      this.log.warn(`state: checkpoint failed: ${(e as Error).message}`);
    }
  }

  /** Stop: save to the state dir, then the backup dir. */
  saveAtStop(): void {
    if (this.watcher) clearInterval(this.watcher);
    if (!this.store) return;
    try {
      const store = this.store;
      const r = this.asDaemon(() => store.save(this.state));
      this.log.info('state saved', { primary: r.primary, backup: r.backup });
    } catch (e) {
      this.log.error((e as Error).message);
    }
  }
}
