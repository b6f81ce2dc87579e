// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  MAX_ENTRIES,
  STORAGE_KEY,
  isForgotten,
  loadToast,
  openMemory,
  rememberKey,
} from "../widget/remember.js";

/** @typedef {import("../widget/remember.js").RememberedRun} RememberedRun */

/** A `localStorage` stand-in; `quota` bounds the stored text's length. */
class FakeStorage {
  /** @param {number} [quota] */
  constructor(quota = Infinity) {
    /** @type {Map<string, string>} */
    this.items = new Map();
    this.quota = quota;
  }

  /** @param {string} key */
  getItem(key) {
    return this.items.get(key) ?? null;
  }

  /**
   * @param {string} key
   * @param {string} value
   */
  setItem(key, value) {
    if (value.length > this.quota) {
      throw new Error("QuotaExceededError");
    }
    this.items.set(key, value);
  }

  /** @param {string} key */
  removeItem(key) {
    this.items.delete(key);
  }
}

/** A storage that throws on every call, as disabled storage does. */
const BROKEN = {
  getItem() {
    throw new Error("SecurityError");
  },
  setItem() {
    throw new Error("SecurityError");
  },
  removeItem() {
    throw new Error("SecurityError");
  },
};

/**
 * @param {string} id
 * @param {string} [status]
 * @returns {RememberedRun}
 */
function entry(id, status = "running") {
  return { execution_id: id, base_url: "/", at: 0, status };
}

/** A clock that moves one millisecond per call. */
function ticking() {
  let now = 1000;
  return () => (now += 1);
}

const WORKFLOW = {
  phases: [
    { id: "load", kind: "noop", label: "Load data" },
    { id: "fit", kind: "noop", label: "Fit model" },
  ],
};

describe("rememberKey", () => {
  test("test_remember_key_joins_notebook_and_widget", () => {
    const key = rememberKey("nb1", "w1", "/lab/tree/a.ipynb");

    assert.equal(key, "nb1\nw1");
    assert.notEqual(key, rememberKey("nb2", "w1", "/lab/tree/a.ipynb"));
    assert.notEqual(key, rememberKey("nb1", "w2", "/lab/tree/a.ipynb"));
  });

  test("test_remember_key_falls_back_to_the_page_path", () => {
    const a = rememberKey("", "w1", "/lab/tree/a.ipynb");
    const b = rememberKey(undefined, "w1", "/lab/tree/b.ipynb");

    assert.equal(a, "page:/lab/tree/a.ipynb\nw1");
    assert.notEqual(a, b);
  });

  test("test_remember_key_is_null_without_a_view_key", () => {
    assert.equal(rememberKey("nb1", "", "/"), null);
    assert.equal(rememberKey("nb1", undefined, "/"), null);
  });
});

describe("openMemory", () => {
  test("test_memory_recalls_what_it_remembered_under_its_key", () => {
    const memory = openMemory(new FakeStorage());

    memory.remember("k1", entry("ex1"));
    memory.remember("k2", entry("ex2", "pending"));

    assert.equal(memory.recall("k1")?.execution_id, "ex1");
    assert.equal(memory.recall("k2")?.status, "pending");
    assert.equal(memory.recall("k3"), null);
  });

  test("test_memory_survives_in_the_storage_for_the_next_page", () => {
    const storage = new FakeStorage();
    openMemory(storage).remember("k1", entry("ex1"));

    const next = openMemory(storage).recall("k1");

    assert.equal(next?.execution_id, "ex1");
    assert.equal(next?.base_url, "/");
  });

  test("test_memory_stamps_entries_with_the_time_written", () => {
    const memory = openMemory(new FakeStorage(), () => 1234);

    memory.remember("k1", entry("ex1"));

    assert.equal(memory.recall("k1")?.at, 1234);
  });

  test("test_memory_keeps_the_newest_entries_up_to_its_bound", () => {
    const storage = new FakeStorage();
    const memory = openMemory(storage, ticking());

    for (let i = 0; i < MAX_ENTRIES + 5; i += 1) {
      memory.remember(`k${i}`, entry(`ex${i}`));
    }

    const kept = JSON.parse(storage.getItem(STORAGE_KEY) ?? "{}");
    assert.equal(Object.keys(kept).length, MAX_ENTRIES);
    assert.equal(memory.recall("k0"), null);
    assert.equal(memory.recall("k4"), null);
    assert.equal(memory.recall("k5")?.execution_id, "ex5");
    assert.equal(memory.recall(`k${MAX_ENTRIES + 4}`)?.status, "running");
  });

  test("test_memory_rewriting_an_entry_makes_it_newest", () => {
    const memory = openMemory(new FakeStorage(), ticking());
    memory.remember("old", entry("ex-old"));
    for (let i = 0; i < MAX_ENTRIES - 1; i += 1) {
      memory.remember(`k${i}`, entry(`ex${i}`));
    }

    memory.remember("old", entry("ex-old", "pending"));
    memory.remember("one-more", entry("ex-more"));

    assert.equal(memory.recall("old")?.status, "pending");
    assert.equal(memory.recall("k0"), null);
  });

  test("test_memory_forgets_an_entry", () => {
    const storage = new FakeStorage();
    const memory = openMemory(storage);
    memory.remember("k1", entry("ex1"));

    memory.forget("k1");

    assert.equal(memory.recall("k1"), null);
    assert.equal(storage.getItem(STORAGE_KEY), null);
  });

  test("test_memory_forget_of_another_execution_keeps_the_entry", () => {
    const memory = openMemory(new FakeStorage());
    memory.remember("k1", entry("ex-new"));

    memory.forget("k1", "ex-old");

    assert.equal(memory.recall("k1")?.execution_id, "ex-new");
  });

  test("test_memory_with_throwing_storage_remembers_nothing_and_never_throws", () => {
    const memory = openMemory(BROKEN);

    memory.remember("k1", entry("ex1"));
    memory.forget("k1");

    assert.equal(memory.recall("k1"), null);
  });

  test("test_memory_without_storage_remembers_nothing", () => {
    const memory = openMemory(null);

    memory.remember("k1", entry("ex1"));

    assert.equal(memory.recall("k1"), null);
  });

  test("test_memory_with_full_storage_keeps_what_fits", () => {
    const storage = new FakeStorage();
    const memory = openMemory(storage, ticking());
    for (let i = 0; i < 8; i += 1) memory.remember(`k${i}`, entry(`ex${i}`));
    const size = (storage.getItem(STORAGE_KEY) ?? "").length;
    storage.quota = Math.floor(size * 0.7);

    memory.remember("k-new", entry("ex-new"));

    assert.equal(memory.recall("k-new")?.execution_id, "ex-new");
    assert.equal(memory.recall("k0"), null);
    assert.ok((storage.getItem(STORAGE_KEY) ?? "").length <= storage.quota);
  });

  test("test_memory_with_no_room_at_all_does_not_throw", () => {
    const storage = new FakeStorage(0);
    const memory = openMemory(storage);

    memory.remember("k1", entry("ex1"));

    assert.equal(memory.recall("k1"), null);
  });

  test("test_memory_ignores_garbage_in_the_storage", () => {
    const storage = new FakeStorage();
    storage.setItem(STORAGE_KEY, "{not json");
    const memory = openMemory(storage);

    assert.equal(memory.recall("k1"), null);
    memory.remember("k1", entry("ex1"));
    assert.equal(memory.recall("k1")?.execution_id, "ex1");
  });

  test("test_memory_drops_malformed_entries", () => {
    const storage = new FakeStorage();
    storage.setItem(
      STORAGE_KEY,
      JSON.stringify({ bad: { base_url: "/" }, good: entry("ex1"), n: 3 }),
    );

    const memory = openMemory(storage);

    assert.equal(memory.recall("bad"), null);
    assert.equal(memory.recall("n"), null);
    assert.equal(memory.recall("good")?.execution_id, "ex1");
  });

  test("test_memory_stores_no_more_than_the_entry_fields", () => {
    const storage = new FakeStorage();
    const memory = openMemory(storage);

    memory.remember("k1", {
      ...entry("ex1"),
      // @ts-expect-error: a stray field must not be written
      token: "s3cret",
    });

    assert.ok(!(storage.getItem(STORAGE_KEY) ?? "").includes("s3cret"));
  });
});

describe("isForgotten", () => {
  test("test_runs_that_are_over_or_unknown_are_forgotten", () => {
    for (const status of ["completed", "failed", "cancelled", "unknown"]) {
      assert.equal(isForgotten(status), true, status);
    }
  });

  test("test_runs_under_way_are_remembered", () => {
    for (const status of ["pending", "running", "interrupted"]) {
      assert.equal(isForgotten(status), false, status);
    }
  });
});

describe("loadToast", () => {
  test("test_load_toast_reconnects_to_a_run_still_running", () => {
    const toast = loadToast(
      entry("ex1"),
      { id: "ex1", status: "running" },
      WORKFLOW,
      {},
    );

    assert.deepEqual(toast, {
      level: "info",
      text: "Reconnected to a running workflow",
      id: "execution:ex1:reconnected",
    });
  });

  test("test_load_toast_of_a_run_that_completed_while_away", () => {
    const toast = loadToast(
      entry("ex1"),
      { id: "ex1", status: "completed" },
      WORKFLOW,
      {},
    );

    assert.deepEqual(toast, {
      level: "success",
      text: "Workflow previously completed",
      id: "execution:ex1:completed",
    });
  });

  test("test_load_toast_of_a_run_that_failed_while_away_names_the_phase", () => {
    const toast = loadToast(
      entry("ex1"),
      { id: "ex1", status: "failed", error: "phase 'fit' failed" },
      WORKFLOW,
      {
        load: { status: "completed" },
        fit: { status: "failed", error: "ValueError: no rows" },
      },
    );

    assert.equal(toast?.level, "error");
    assert.equal(
      toast?.text,
      "Workflow failed at phase Fit model: ValueError: no rows",
    );
    assert.equal(toast?.id, "execution:ex1:failed");
  });

  test("test_load_toast_of_a_run_cancelled_while_away", () => {
    const toast = loadToast(
      entry("ex1", "pending"),
      { id: "ex1", status: "cancelled" },
      WORKFLOW,
      {},
    );

    assert.equal(toast?.text, "Workflow was cancelled");
    assert.equal(toast?.level, "info");
  });

  test("test_load_toast_shares_the_run_end_toast_id", () => {
    // The page shows one toast per id: the view's own run-end toast for
    // the same change is the same toast.
    const toast = loadToast(
      entry("ex1"),
      { id: "ex1", status: "completed" },
      WORKFLOW,
      {},
    );

    assert.equal(toast?.id, "execution:ex1:completed");
  });

  test("test_load_toast_is_silent_for_a_run_new_to_this_browser", () => {
    for (const status of ["running", "completed", "failed"]) {
      assert.equal(
        loadToast(null, { id: "ex1", status }, WORKFLOW, {}),
        null,
        status,
      );
    }
  });

  test("test_load_toast_is_silent_when_the_entry_names_another_run", () => {
    const toast = loadToast(
      entry("ex-old"),
      { id: "ex1", status: "running" },
      WORKFLOW,
      {},
    );

    assert.equal(toast, null);
  });

  test("test_load_toast_is_silent_for_a_run_already_seen_to_end", () => {
    const toast = loadToast(
      entry("ex1", "completed"),
      { id: "ex1", status: "completed" },
      WORKFLOW,
      {},
    );

    assert.equal(toast, null);
  });
});
