/**
 * Starts every controller of the control plane over one store (what `swnet controller` runs).
 */
import type { Store } from '../store/contract.js';
import { GangScheduler } from './gang.js';
import { MigrationController, type MigrationControllerInit } from './migration.js';
import { OverloadController, type OverloadControllerInit } from './overload.js';
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
export async function startControllers(store: Store, o: { readonly log?: (line: string) => void; /** Overload shedding (default thr-mmt-0.8); false: off. */ readonly overload?: OverloadControllerInit | false; readonly migration?: MigrationControllerInit } = {}): Promise<Controllers> {
  const servers = await ServerLifecycleController.start(store, o.log ? { log: o.log } : {});
  const network = await NetworkController.start(store, { scheduler: new GangScheduler(), ...(o.log ? { log: o.log } : {}) });
  const migration = await MigrationController.start(store, { ...(o.log ? { log: o.log } : {}), ...(o.migration ?? {}) });
  const overload = o.overload === false ? undefined : await OverloadController.start(store, { ...(o.log ? { log: o.log } : {}), ...(o.overload ?? {}) });
  return {
    names: ['server-lifecycle', 'network', 'migration', ...(overload ? ['overload'] : [])],
    stop: async () => {
      await overload?.stop();
      await migration.stop();
      await network.stop();
      await servers.stop();
    },
  };
}
