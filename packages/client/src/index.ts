export { connect, CoderunnerClient } from './client.js';
export type { ClientOptions, WaitOptions } from './client.js';
export { ClientError } from './errors.js';
export type { ClientErrorCode } from './errors.js';
