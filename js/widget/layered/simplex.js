// @ts-check
/**
 * Network simplex over the ranks of one connected piece of the graph; see
 * `tightenRanks` in rank.js for how it is driven and budgeted.
 */
import { createHeap } from "./heap.js";

/** @typedef {import("./rank.js").SimpleGraph} SimpleGraph */

/**
 * Network simplex over one connected piece, sharing scratch arrays between
 * pieces. After each exchange only what changed is updated: the ranks of
 * the subtree that moves, the cut values on the tree path between the
 * entering edge's ends, and the numbering (see `rehang`).
 * @param {SimpleGraph} graph
 * @param {Int32Array} rank
 * @returns {(nodes: Int32Array, edges: Int32Array, budget: number) => number}
 *   runs on one piece and returns the work it did
 */
export function createSimplex(graph, rank) {
  const { n, from, to, weight, start, touching } = graph;
  const m = from.length;
  const inTree = new Uint8Array(n);
  const joinShift = new Float64Array(n);
  const treeEdge = new Uint8Array(m);
  const cut = new Float64Array(m);
  const parentEdge = new Int32Array(n);
  const low = new Int32Array(n);
  const lim = new Int32Array(n);
  const size = new Int32Array(n);
  const stack = new Int32Array(n);
  const next = new Int32Array(n);
  const postorder = new Int32Array(n);
  // Edges leaving the growing tree (tail inside): slack is key - shift.
  const leaving = createHeap(m);
  // Edges entering it (head inside): slack is key + shift.
  const entering = createHeap(m);
  const slack = (/** @type {number} */ e) => rank[to[e]] - rank[from[e]] - 1;
  /** @param {number} e @param {number} v */
  const other = (e, v) => (from[e] === v ? to[e] : from[e]);
  /** Whether x lies in the subtree of `top`. @param {number} x @param {number} top */
  const below = (x, top) => low[top] <= lim[x] && lim[x] <= lim[top];

  /**
   * Grow a spanning tree of tight edges from the first node (Prim-like):
   * add the outside edge of least slack, after shifting the whole tree by
   * that slack so the edge becomes tight; a shift by the least slack keeps
   * every other edge feasible. Shifting the tree is kept implicit: its
   * nodes move by `shift` less what it was when they joined, and edges
   * wait in two heaps whose keys shifts do not reorder.
   * @param {Int32Array} nodes
   * @param {Int32Array} tree filled with the tree edges
   * @returns {number} work done
   */
  function feasibleTree(nodes, tree) {
    leaving.clear();
    entering.clear();
    let shift = 0;
    let edges = 0;
    /** @param {number} v */
    const join = (v) => {
      inTree[v] = 1;
      joinShift[v] = shift;
      for (let k = start[v]; k < start[v + 1]; k += 1) {
        const e = touching[k];
        const w = other(e, v);
        if (inTree[w]) continue;
        if (from[e] === v) leaving.push(e, slack(e) + shift);
        else entering.push(e, slack(e) - shift);
      }
    };
    join(nodes[0]);
    for (let joined = 1; joined < nodes.length; joined += 1) {
      for (const heap of [leaving, entering]) {
        while (
          heap.size() > 0 &&
          inTree[from[heap.top()]] &&
          inTree[to[heap.top()]]
        ) {
          heap.pop();
        }
      }
      const out = leaving.size() > 0 ? leaving.topKey() - shift : Infinity;
      const back = entering.size() > 0 ? entering.topKey() + shift : Infinity;
      let e;
      let w;
      if (out <= back) {
        e = leaving.pop();
        shift += out;
        w = to[e];
      } else {
        e = entering.pop();
        shift -= back;
        w = from[e];
      }
      treeEdge[e] = 1;
      tree[edges++] = e;
      join(w);
    }
    for (const v of nodes) {
      rank[v] += shift - joinShift[v];
      inTree[v] = 0;
    }
    return 8 * (edges + 1) + 4 * leaving.pushed() + 4 * entering.pushed();
  }

  /**
   * Number the subtree of `top` in postorder from `first` (lim), with the
   * smallest number under each node (low), noting each node's tree edge
   * to its parent.
   * @param {number} top
   * @param {number} up tree edge from top to its parent, or -1
   * @param {number} first
   * @returns {number} nodes numbered
   */
  function numberTree(top, up, first) {
    let number = first;
    stack[0] = top;
    next[0] = start[top];
    parentEdge[top] = up;
    low[top] = number;
    let depth = 1;
    while (depth > 0) {
      const v = stack[depth - 1];
      if (next[depth - 1] < start[v + 1]) {
        const e = touching[next[depth - 1]];
        next[depth - 1] += 1;
        if (!treeEdge[e] || e === parentEdge[v]) continue;
        const w = other(e, v);
        parentEdge[w] = e;
        low[w] = number;
        stack[depth] = w;
        next[depth] = start[w];
        depth += 1;
      } else {
        lim[v] = number;
        postorder[number] = v;
        number += 1;
        depth -= 1;
      }
    }
    return number - first;
  }

  /**
   * Cut value of every tree edge, children before parents: the weight of
   * the edges going from the tail's side of the cut to the head's side,
   * less those going back.
   * @param {number} first
   * @param {number} count
   */
  function cutValues(first, count) {
    for (let i = first; i < first + count - 1; i += 1) {
      const child = postorder[i];
      const up = parentEdge[child];
      const childIsTail = from[up] === child;
      let value = weight[up];
      for (let k = start[child]; k < start[child + 1]; k += 1) {
        const e = touching[k];
        if (e === up) continue;
        const towardHead = (from[e] === child) === childIsTail;
        value += towardHead ? weight[e] : -weight[e];
        if (treeEdge[e]) value += towardHead ? -cut[e] : cut[e];
      }
      cut[up] = value;
    }
  }

  /**
   * Walk up from v until w is below, adding `value` to the cut value of
   * each tree edge on the way (with the sign given by its direction).
   * @param {number} v
   * @param {number} w
   * @param {number} value
   * @param {boolean} forward
   * @returns {number} the common ancestor of v and w
   */
  function updatePath(v, w, value, forward) {
    while (!below(w, v)) {
      const e = parentEdge[v];
      const sign = (from[e] === v) === forward ? 1 : -1;
      cut[e] += sign * value;
      v = lim[from[e]] > lim[to[e]] ? from[e] : to[e];
    }
    return v;
  }

  /**
   * After an exchange, hang the subtree under `down` (cut off by the
   * leaving edge) from the entering edge and keep the numbering valid
   * without renumbering the whole tree: the subtree's block of postorder
   * numbers moves to just before its new parent, the nodes in between
   * shift by its size, only the subtree itself is walked again, and the
   * sizes on the paths up to `top` (the entering edge's common ancestor)
   * change by its size.
   * @param {number} down
   * @param {number} oldParent
   * @param {number} enter the new tree edge
   * @param {number} top
   * @returns {number} work done
   */
  function rehang(down, oldParent, enter, top) {
    const first = low[down];
    const last = lim[down];
    const moved = last - first + 1;
    const inner = below(from[enter], down) ? from[enter] : to[enter];
    const outer = other(enter, inner);
    let work = 0;
    for (let v = oldParent; v !== top; v = other(parentEdge[v], v)) {
      size[v] -= moved;
      work += 1;
    }
    for (let v = outer; v !== top; v = other(parentEdge[v], v)) {
      size[v] += moved;
      work += 1;
    }
    const at = lim[outer];
    let begin;
    let end;
    let place;
    if (at > last) {
      for (let i = last + 1; i < at; i += 1) {
        postorder[i - moved] = postorder[i];
        lim[postorder[i - moved]] = i - moved;
      }
      place = at - moved;
      begin = first;
      end = at - 1;
    } else {
      for (let i = first - 1; i >= at; i -= 1) {
        postorder[i + moved] = postorder[i];
        lim[postorder[i + moved]] = i + moved;
      }
      place = at;
      begin = at;
      end = last;
    }
    numberTree(inner, enter, place);
    for (let i = begin; i <= end; i += 1) {
      const v = postorder[i];
      if (i >= place && i < place + moved) size[v] = lim[v] - low[v] + 1;
      else low[v] = lim[v] - size[v] + 1;
    }
    for (let v = oldParent; v !== top; v = other(parentEdge[v], v)) {
      low[v] = lim[v] - size[v] + 1;
    }
    for (let v = outer; v !== top; v = other(parentEdge[v], v)) {
      low[v] = lim[v] - size[v] + 1;
    }
    return 2 * work + 2 * (end - begin + 1) + 4 * moved;
  }

  /**
   * Pick a tree edge with a negative cut value, the most negative of the
   * first few found from where the last search stopped (as Graphviz does).
   * `search.steps` counts the edges looked at.
   * @param {Int32Array} tree
   * @param {{ cursor: number, steps: number }} search
   * @returns {number} its index in `tree`, or -1 when the ranking is optimal
   */
  function leavingEdge(tree, search) {
    let found = -1;
    let seen = 0;
    for (let step = 0; step < tree.length; step += 1) {
      const i = (search.cursor + step) % tree.length;
      if (cut[tree[i]] < 0) {
        if (found < 0 || cut[tree[i]] < cut[tree[found]]) found = i;
        seen += 1;
        if (seen >= 30) {
          search.cursor = (i + 1) % tree.length;
          search.steps += step + 1;
          return found;
        }
      }
    }
    search.steps += tree.length;
    if (found >= 0) search.cursor = (found + 1) % tree.length;
    return found;
  }

  return (nodes, edges, budget) => {
    const count = nodes.length;
    const tree = new Int32Array(count - 1);
    let work = feasibleTree(nodes, tree);
    numberTree(nodes[0], -1, 0);
    for (const v of nodes) size[v] = lim[v] - low[v] + 1;
    cutValues(0, count);
    work += 4 * edges.length + count;
    const search = { cursor: 0, steps: 0 };
    while (work + search.steps < budget) {
      const slot = leavingEdge(tree, search);
      if (slot < 0) break;
      const leave = tree[slot];
      // The leaving edge splits off the subtree under its lower end; the
      // entering edge crosses the cut the other way, with least slack.
      const down = lim[from[leave]] < lim[to[leave]] ? from[leave] : to[leave];
      const tailBelow = down === from[leave];
      let enter = -1;
      for (let i = low[down]; i <= lim[down]; i += 1) {
        const v = postorder[i];
        for (let k = start[v]; k < start[v + 1]; k += 1) {
          const e = touching[k];
          const inside = tailBelow ? to[e] === v : from[e] === v;
          if (!inside || below(other(e, v), down)) continue;
          if (enter < 0 || slack(e) < slack(enter)) enter = e;
        }
        work += start[v + 1] - start[v];
      }
      if (enter < 0) break;
      const delta = slack(enter);
      if (delta > 0) {
        const shift = tailBelow ? -delta : delta;
        for (let i = low[down]; i <= lim[down]; i += 1) {
          rank[postorder[i]] += shift;
        }
      }
      const value = cut[leave];
      const top = updatePath(from[enter], to[enter], value, true);
      updatePath(to[enter], from[enter], value, false);
      cut[enter] = -value;
      cut[leave] = 0;
      treeEdge[leave] = 0;
      treeEdge[enter] = 1;
      tree[slot] = enter;
      work += rehang(down, other(leave, down), enter, top);
    }
    for (const e of tree) treeEdge[e] = 0;
    return work + search.steps;
  };
}
