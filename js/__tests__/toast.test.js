// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ERROR_TOAST_DURATION_MS,
  parseToastMessage,
  toastDuration,
} from "../widget/toast.js";

describe("parseToastMessage", () => {
  test("test_parse_toast_message_accepts_kernel_toast", () => {
    const toast = parseToastMessage({
      type: "toast",
      level: "warning",
      text: "Phase retried",
      id: "t-1",
    });

    assert.deepEqual(toast, {
      level: "warning",
      text: "Phase retried",
      id: "t-1",
    });
  });

  test("test_parse_toast_message_defaults_unknown_level_to_info", () => {
    const toast = parseToastMessage({ type: "toast", level: "x", text: "hi" });

    assert.equal(toast?.level, "info");
    assert.equal(toast?.id, "info:hi");
  });

  test("test_parse_toast_message_rejects_other_messages", () => {
    assert.equal(parseToastMessage({ type: "cancel" }), null);
    assert.equal(parseToastMessage({ type: "toast", text: "" }), null);
    assert.equal(parseToastMessage("toast"), null);
    assert.equal(parseToastMessage(null), null);
  });
});

describe("toastDuration", () => {
  test("test_toast_duration_is_between_3_and_6_seconds", () => {
    for (const level of /** @type {const} */ ([
      "success",
      "error",
      "warning",
      "info",
    ])) {
      const ms = toastDuration(level);

      assert.ok(ms >= 3000 && ms <= 6000, `${level}: ${ms}`);
    }
    assert.equal(toastDuration("error"), ERROR_TOAST_DURATION_MS);
  });
});
