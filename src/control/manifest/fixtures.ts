/**
 * A manifest with every kind, used by tests, the crash test's child and benchmarks. Functions
 * are of registered kinds with valid configs, so the fixture stays valid as kinds are added.
 */
export const GOOD = `apiVersion: swnet.io/v1
kind: Datacenter
metadata:
  name: edge-paris
  labels: { region: eu-west }
spec:
  tier: edge
  location: { city: Paris, latitude: 48.85, longitude: 2.35 }
---
apiVersion: swnet.io/v1
kind: Server
metadata:
  name: s1
spec:
  datacenter: edge-paris
  capacity: { cpu: 16, memory: 64Gi, bandwidth: 10Gbps }
  power:
    specpower: [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135]
---
apiVersion: swnet.io/v1
kind: Server
metadata:
  name: s2
spec:
  datacenter: edge-paris
  capacity: { cpu: "8", memory: 32Gi }
---
apiVersion: swnet.io/v1
kind: Link
metadata:
  name: s1-s2
spec:
  endpoints: [s1, s2]
  bandwidth: 10Gbps
  latency: 200us
---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata:
  name: web
  namespace: tenant-a
spec:
  functions:
    - name: r1
      kind: switch
      ports: [eth0, eth1]
      config: { ports: [{ name: eth0 }, { name: eth1 }] }
      resources: { cpu: 500m, memory: 256Mi }
    - name: fw
      kind: switch
      config: { ports: [{ name: in }, { name: out }] }
    - name: lb
      kind: switch
      config: { ports: [{ name: in }, { name: out }] }
  links:
    - endpoints: ["r1:eth0", fw]
    - endpoints: ["r1:eth1", lb]
      latency: 1ms
  protocols: [ethernet, ipv4, ipv6]
  tokens: 10
  priority: 2
  isolation: domain
  placement:
    tier: [edge, mec]
    datacenter: [edge-paris]
    maxLatency: [{ between: [r1, lb], latency: 5ms }]
    antiAffinity: [[r1, fw]]
  resilience: { standby: 1 }
---
apiVersion: swnet.io/v1
kind: UserNetworkTemplate
metadata:
  name: home
spec:
  idleTimeout: 30000
  template:
    spec:
      isolation: context
      functions:
        - { name: nat, kind: switch, config: { ports: [{ name: a }, { name: b }] } }
        - { name: fw, kind: switch, config: { ports: [{ name: a }, { name: b }] } }
      links: [{ endpoints: [nat, fw] }]
---
`;
