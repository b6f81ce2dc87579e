// @ts-check
/** A binary heap of edge ids, used by network simplex to grow its tree. */

/**
 * A binary min-heap of edge ids by number keys, ties to the smaller id so
 * the order is fixed.
 * @param {number} capacity
 */
export function createHeap(capacity) {
  const items = new Int32Array(Math.max(1, capacity));
  const keys = new Float64Array(Math.max(1, capacity));
  let size = 0;
  let pushes = 0;
  /** @param {number} i @param {number} j */
  const less = (i, j) =>
    keys[i] < keys[j] || (keys[i] === keys[j] && items[i] < items[j]);
  /** @param {number} i @param {number} j */
  const swap = (i, j) => {
    const item = items[i];
    items[i] = items[j];
    items[j] = item;
    const key = keys[i];
    keys[i] = keys[j];
    keys[j] = key;
  };
  return {
    clear() {
      size = 0;
      pushes = 0;
    },
    size: () => size,
    pushed: () => pushes,
    top: () => items[0],
    topKey: () => keys[0],
    /** @param {number} item @param {number} key */
    push(item, key) {
      let i = size;
      size += 1;
      pushes += 1;
      items[i] = item;
      keys[i] = key;
      while (i > 0 && less(i, (i - 1) >> 1)) {
        swap(i, (i - 1) >> 1);
        i = (i - 1) >> 1;
      }
    },
    pop() {
      const item = items[0];
      size -= 1;
      items[0] = items[size];
      keys[0] = keys[size];
      let i = 0;
      while (true) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < size && less(left, least)) least = left;
        if (right < size && less(right, least)) least = right;
        if (least === i) break;
        swap(i, least);
        i = least;
      }
      return item;
    },
  };
}
