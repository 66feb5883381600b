/**
 * The server lifecycle controller: a Server whose agent heartbeat (heartbeat.ts) is present is
 * `Ready=True`; one whose heartbeat disappeared is `Ready=False` with reason AgentLost and a
 * Warning event saying so. Servers that never had an agent are left without a Ready condition.
 */
import { EventRecorder, setCondition } from '../events.js';
import { readResource } from '../manifest/apply.js';
import { HEARTBEAT_PREFIX } from '../heartbeat.js';
import { CasFailedError, NotFoundError, type Store } from '../store/contract.js';
import { Reflector } from '../store/reflector.js';

const SERVER_PREFIX = '/swnet/server/';

/** Whether a Server object may receive functions (no Ready=False condition). */
export function serverSchedulable(status: { conditions?: readonly { type: string; status: string }[] } | undefined): boolean {
  return status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'False';
}

/**
 * @example
 * const c = await ServerLifecycleController.start(store);
 * await c.stop();
 */
export class ServerLifecycleController {
  private servers!: Reflector;
  private beats!: Reflector;
  private readonly events: EventRecorder;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  private constructor(
    private readonly store: Store,
    private readonly log?: (line: string) => void,
  ) {
    this.events = new EventRecorder(store, { component: 'server-lifecycle' });
  }

  static async start(store: Store, o: { readonly log?: (line: string) => void } = {}): Promise<ServerLifecycleController> {
    const c = new ServerLifecycleController(store, o.log);
    c.beats = await Reflector.start(store, { prefix: HEARTBEAT_PREFIX, onChange: () => c.queue() });
    c.servers = await Reflector.start(store, { prefix: SERVER_PREFIX, onChange: () => c.queue() });
    c.queue();
    return c;
  }

  /** Serialises passes; each looks at every server (level-triggered, cheap: one map lookup each). */
  private queue(): void {
    if (this.stopped) return;
    this.chain = this.chain.then(() => this.pass()).catch((e: unknown) => {
      this.log?.(`server-lifecycle: ${e instanceof Error ? e.message : String(e)}`);
      setTimeout(() => this.queue(), 500).unref();
    });
  }

  private async pass(): Promise<void> {
    // The heartbeat reflector's first list can fire before the server reflector exists; start() queues a pass after both.
    if (!this.servers || !this.beats) return;
    for (const kv of [...this.servers.cache.values()]) {
      if (this.stopped) return;
      const s = readResource(kv);
      const name = s.metadata.name;
      const ready = s.status?.conditions?.find((c) => c.type === 'Ready');
      const beating = this.beats.cache.has(`${HEARTBEAT_PREFIX}${name}`);
      const ref = { kind: 'Server' as const, name };
      try {
        if (beating && ready?.status !== 'True') {
          await setCondition(this.store, ref, { type: 'Ready', status: 'True', reason: 'AgentHeartbeat', message: 'the server agent renews its lease' });
          await this.events.record(ref, 'Normal', 'AgentReady', `agent of ${name} is up`);
        } else if (!beating && ready?.status === 'True') {
          const msg = `agent of ${name} stopped renewing its lease: its functions are placed elsewhere`;
          await setCondition(this.store, ref, { type: 'Ready', status: 'False', reason: 'AgentLost', message: msg });
          await this.events.record(ref, 'Warning', 'AgentLost', msg);
        }
      } catch (e) {
        if (!(e instanceof NotFoundError) && !(e instanceof CasFailedError)) throw e;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.chain;
    await Promise.all([this.servers.stop(), this.beats.stop()]);
  }
}
