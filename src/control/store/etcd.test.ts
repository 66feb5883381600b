import { after, before } from 'node:test';
import { storeConformance } from './conformance.js';
import { EtcdStore } from './etcd.js';
import { startEtcd, type EtcdProcess } from './etcd-process.js';

// One etcd for the whole file; each conformance test works under its own key prefix.
let etcd: EtcdProcess | undefined;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

storeConformance('etcd', async () => new EtcdStore({ hosts: etcd!.url }));
