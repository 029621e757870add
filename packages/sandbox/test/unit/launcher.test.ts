import { describe, expect, it } from '@jest/globals';
import { signalName } from '../../src/launcher.js';

describe('signalName', () => {
  it('names signals by number', () => {
    expect(signalName(1)).toBe('SIGHUP');
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(11)).toBe('SIGSEGV');
    expect(signalName(15)).toBe('SIGTERM');
  });

  it('uses the usual name of a signal that has aliases, as Node does for a killed child', () => {
    // abort() — a failed assert, an uncaught C++ exception — must read SIGABRT, not SIGIOT.
    expect(signalName(6)).toBe('SIGABRT');
    expect(signalName(29)).toBe('SIGIO');
  });

  it('falls back to SIG<number> for a number with no name', () => {
    expect(signalName(999)).toBe('SIG999');
  });
});
