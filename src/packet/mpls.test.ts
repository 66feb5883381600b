import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mpls from './mpls.js';
import { MAX_MPLS_LABELS, buildMplsStack, parseMpls } from './mpls.js';
import { decodeFrame } from './decode.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s+/g, '').match(/../g)!.map((x) => parseInt(x, 16)));

// RFC 3032 stack: label 100 (0x00064), TC 5, S 0, TTL 64 → 00064a40; label 1048575, TC 0, S 1, TTL 1 → fffff101.
const STACK = '00064a40 fffff101';

test('golden label stack: accessors, parse, build', () => {
  const b = hex(STACK);
  assert.deepEqual([mpls.label(b, 0), mpls.tc(b, 0), mpls.bottom(b, 0), mpls.ttl(b, 0), mpls.entry(b, 0)], [100, 5, false, 64, 0x00064a40]);
  assert.deepEqual([mpls.label(b, 4), mpls.tc(b, 4), mpls.bottom(b, 4), mpls.ttl(b, 4)], [0xfffff, 0, true, 1]);
  const e = parseMpls(b, 4, 4);
  assert.ok(e.ok);
  assert.deepEqual([e.label, e.tc, e.bottom, e.ttl], [0xfffff, 0, true, 1]);
  const out = new Uint8Array(8);
  assert.equal(buildMplsStack(out, 0, [{ label: 100, tc: 5, ttl: 64 }, { label: 0xfffff, ttl: 1 }]), 8);
  assert.deepEqual(out, b);
});

test('swap in place: label, TC, S, TTL setters touch only their bits', () => {
  const b = hex(STACK);
  mpls.setLabel(b, 0, 0xabcde);
  assert.deepEqual([mpls.label(b, 0), mpls.tc(b, 0), mpls.bottom(b, 0), mpls.ttl(b, 0)], [0xabcde, 5, false, 64]);
  mpls.setTc(b, 0, 2);
  mpls.setBottom(b, 0, true);
  mpls.setTtl(b, 0, 63);
  assert.deepEqual([mpls.label(b, 0), mpls.tc(b, 0), mpls.bottom(b, 0), mpls.ttl(b, 0)], [0xabcde, 2, true, 63]);
});

test('malformed: truncated entry, stack without bottom, too many labels', () => {
  assert.deepEqual(parseMpls(hex(STACK), 0, 3), { ok: false, reason: 'truncated', offset: 0 });
  const eth = '020000000002 020000000001 8847';
  assert.deepEqual(decodeFrame(hex(eth + '00064a40 00064a40')).error, { reason: 'truncated', offset: 22, layer: 'mpls' });
  const deep = hex(eth + '00064a40'.repeat(MAX_MPLS_LABELS + 1));
  const f = decodeFrame(deep);
  assert.deepEqual(f.error, { reason: 'too-many-headers', offset: 14 + 4 * MAX_MPLS_LABELS, layer: 'mpls' });
  // A bottom label followed by something that is neither IPv4 nor IPv6: an opaque payload.
  const pw = decodeFrame(hex(eth + 'fffff101 0000 0000 aaaa'));
  assert.equal(pw.error, null);
  assert.deepEqual(pw.layers.map((l) => l.kind), ['eth', 'mpls', 'payload']);
});
