/**
 * Globals that js/build.mjs defines when it bundles the widget. Outside the
 * bundle (node tests, type checks) they are not defined at all, so code
 * reads them through `typeof` first.
 */

/** The layout worker's bundled code, inlined as text. */
declare const __DAGSTUDIO_LAYOUT_WORKER__: string | undefined;
