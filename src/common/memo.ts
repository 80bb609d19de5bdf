/**
 * `compute` remembered per key object, for as long as the key lives: for values derived from an immutable
 * object (a policy, a source) that every review asks for.
 */
export function memoizedPer<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const values = new WeakMap<K, V>();
  return (key) => {
    if (values.has(key)) return values.get(key) as V;
    const value = compute(key);
    values.set(key, value);
    return value;
  };
}
