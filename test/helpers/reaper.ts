// Last-resort cleanup for acceptance tests. Normal teardown is async and runs in finally/t.teardown;
// this registry covers the cases it cannot: tap killing the file on timeout (SIGTERM), Ctrl-C, or an
// uncaught exception. Each registered action is synchronous (kill -9, umount -l, losetup -d) so it
// can run from process 'exit'. An action unregisters itself once the normal teardown did its job.

type Action = () => void;

const actions = new Map<number, Action>();
let nextId = 1;
let installed = false;

function runAll(): void {
  // Newest first: a QEMU registered after the server it talks to dies before it; inner mounts
  // registered after outer ones are unmounted before them.
  for (const id of [...actions.keys()].sort((a, b) => b - a)) {
    const act = actions.get(id);
    actions.delete(id);
    try {
      act?.();
    } catch {
      // keep going: the next resource must still be released
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  // tap ends a file that runs past its timeout with SIGALRM when it runs in-process.
  const codes = { SIGHUP: 1, SIGINT: 2, SIGALRM: 14, SIGTERM: 15 } as const;
  for (const sig of Object.keys(codes) as (keyof typeof codes)[]) {
    process.once(sig, () => {
      runAll();
      process.exit(128 + codes[sig]);
    });
  }
}

/** Registers a synchronous cleanup; call the returned function when the resource is gone. */
export function onAbnormalExit(action: Action): () => void {
  install();
  const id = nextId++;
  actions.set(id, action);
  return () => {
    actions.delete(id);
  };
}
