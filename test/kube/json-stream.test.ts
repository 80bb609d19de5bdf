import { describe, expect, it } from 'vitest';
import { LineSplitter, ListScanner, peekStrings } from '../../src/kube/json-stream.js';

const list = {
  kind: 'PodCheckpointList',
  apiVersion: 'node.k8s.io/v1alpha1',
  metadata: { resourceVersion: '42', continue: 'tok"en\\' },
  items: [
    { metadata: { name: 'a', namespace: 'n' }, status: { note: 'braces } ] { [ and "quotes" and \\ backslashes\\' } },
    { metadata: { name: 'b', namespace: 'n' }, status: { pad: 'x'.repeat(500) } },
    { metadata: { name: 'c', namespace: 'n' }, items: [{ metadata: {} }] },
  ],
};

function scan(text: string, chunkSize: number, maxItemBytes = 1 << 20) {
  const items: unknown[] = [];
  const oversized: { name: string | undefined; bytes: number }[] = [];
  const scanner = new ListScanner(
    maxItemBytes,
    (item) => items.push(JSON.parse(item.toString('utf8'))),
    (head, bytes) => oversized.push({ name: peekStrings(head, ['metadata.name']).get('metadata.name'), bytes }),
  );
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunkSize) scanner.push(bytes.subarray(i, i + chunkSize));
  return { items, oversized, metadata: scanner.end() };
}

describe('ListScanner', () => {
  it('hands over each item whole and the list metadata, however the answer is cut into chunks', () => {
    const text = JSON.stringify(list);
    for (const size of [1, 2, 3, 7, 64, text.length]) {
      const { items, metadata, oversized } = scan(text, size);
      expect(items).toEqual(list.items);
      expect(metadata).toEqual({ resourceVersion: '42', continue: 'tok"en\\' });
      expect(oversized).toEqual([]);
    }
  });

  it('hands over only the head of an item over the bound, and goes on', () => {
    const { items, oversized } = scan(JSON.stringify(list), 5, 300);
    expect(items).toEqual([list.items[0], list.items[2]]);
    expect(oversized).toEqual([{ name: 'b', bytes: JSON.stringify(list.items[1]).length }]);
  });

  it('refuses an answer cut short', () => {
    const text = JSON.stringify(list);
    expect(() => scan(text.slice(0, text.length - 3), 10)).toThrow(/ended before/);
  });
});

describe('LineSplitter', () => {
  it('splits lines across chunks and reports a line over the bound by its head and length', () => {
    const lines: string[] = [];
    const oversized: { type: string | undefined; name: string | undefined; bytes: number }[] = [];
    const splitter = new LineSplitter(
      100,
      (line) => lines.push(line.toString('utf8')),
      (head, bytes) => {
        const found = peekStrings(head, ['type', 'object.metadata.name']);
        oversized.push({ type: found.get('type'), name: found.get('object.metadata.name'), bytes });
      },
    );
    const big = JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: 'big' }, pad: 'y'.repeat(300) } });
    const text = `{"a":1}\n${big}\n{"b":2}\n{"c":3}`;
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i += 9) splitter.push(bytes.subarray(i, i + 9));
    splitter.end();
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(oversized).toEqual([{ type: 'MODIFIED', name: 'big', bytes: big.length }]);
  });
});
