/**
 * Starts every controller of the control plane over one store (what `swnet controller` runs).
 */
import type { Store } from '../store/contract.js';
import { GangScheduler } from './gang.js';
import { MigrationController } from './migration.js';
import { NetworkController } from './network.js';
import { ServerLifecycleController } from './servers.js';

export interface Controllers {
  readonly names: readonly string[];
  stop(): Promise<void>;
}

/**
 * @example
 * const c = await startControllers(store);
 * await c.stop();
 */
export async function startControllers(store: Store, o: { readonly log?: (line: string) => void } = {}): Promise<Controllers> {
  const servers = await ServerLifecycleController.start(store, o.log ? { log: o.log } : {});
  const network = await NetworkController.start(store, { scheduler: new GangScheduler(), ...(o.log ? { log: o.log } : {}) });
  const migration = await MigrationController.start(store, o.log ? { log: o.log } : {});
  return {
    names: ['server-lifecycle', 'network', 'migration'],
    stop: async () => {
      await migration.stop();
      await network.stop();
      await servers.stop();
    },
  };
}
