/**
 * The drawing page's web server: the request handler
 * ({@linkcode createHandler}) and a bounded loopback load test
 * ({@linkcode runLoad}).
 *
 * @module
 */
export * from "./app.ts";
export * from "./load.ts";
export * from "./explain.ts";
