// @ts-check
/**
 * The layered layout's public entry; its steps live in layered/ (see
 * layered/index.js).
 */
export { DEFAULT_DUMMY_BUDGET, layeredLayout } from "./layered/index.js";

/** @typedef {import("./layered/index.js").LayeredOptions} LayeredOptions */
/** @typedef {import("./layered/index.js").LayeredResult} LayeredResult */
