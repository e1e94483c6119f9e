/**
 * The drawing page's web server: the request handler
 * ({@linkcode createHandler}). Its load test lives with the benchmarks
 * (`tasks/bench/load.ts`).
 *
 * @module
 */
export * from "./app.ts";
export * from "./explain.ts";
