// Re-creates examples/captures/ from real kernel traffic (needs root, tcpdump, dumpcap, ethtool):
// two namespaces joined by veth, ARP, ping, ping -6 with NDP, fragmented pings, UDP and TCP over IPv4 and IPv6,
// UDP and TCP to closed ports (ICMP port unreachable, RST), ping and UDP through a kernel VXLAN tunnel (VNI 42).
// Run after a build: `npm run -s build && node scripts/make-sample-capture.mjs`.
import { VethPair, Capture, generateTraffic } from '../dist/src/testkit/netns.js';

const pair = VethPair.create('swps', { vxlan: true });
try {
  const pcap = await Capture.start(pair.a, pair.ifA, 'examples/captures/kernel-veth.pcap', 'pcap');
  const pcapng = await Capture.start(pair.b, pair.ifB, 'examples/captures/kernel-veth.pcapng', 'pcapng');
  await generateTraffic(pair);
  await pcap.stop();
  await pcapng.stop();
} finally {
  pair.destroy();
}
