import { describe, expect, it } from '@jest/globals';
import { OutputBuffer } from '../../src/output-buffer.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('OutputBuffer', () => {
  it('starts empty', () => {
    const buffer = new OutputBuffer(10);
    expect(buffer.toBuffer()).toEqual(Buffer.alloc(0));
    expect(buffer.total).toBe(0);
    expect(buffer.overflowed).toBe(false);
  });

  it('keeps every chunk, in order, while under the cap', () => {
    const buffer = new OutputBuffer(10);
    expect(buffer.push(bytes('abc'))).toBe(true);
    expect(buffer.push(bytes('def'))).toBe(true);
    expect(buffer.toBuffer().toString()).toBe('abcdef');
    expect(buffer.total).toBe(6);
    expect(buffer.overflowed).toBe(false);
  });

  it('accepts exactly the cap', () => {
    const buffer = new OutputBuffer(6);
    expect(buffer.push(bytes('abc'))).toBe(true);
    expect(buffer.push(bytes('def'))).toBe(true);
    expect(buffer.overflowed).toBe(false);
    expect(buffer.toBuffer().toString()).toBe('abcdef');
  });

  it('keeps the first bytes up to the cap of a chunk that crosses it, and says so', () => {
    const buffer = new OutputBuffer(5);
    expect(buffer.push(bytes('abc'))).toBe(true);
    expect(buffer.push(bytes('defg'))).toBe(false);
    expect(buffer.toBuffer().toString()).toBe('abcde');
    expect(buffer.overflowed).toBe(true);
  });

  it('keeps counting every byte past the cap, without keeping them', () => {
    const buffer = new OutputBuffer(4);
    buffer.push(bytes('abcdef'));
    expect(buffer.push(bytes('ghij'))).toBe(false);
    expect(buffer.push(Buffer.alloc(0))).toBe(false);
    expect(buffer.total).toBe(10);
    expect(buffer.toBuffer().toString()).toBe('abcd');
  });

  it('with a cap of 0 keeps nothing and overflows at the first byte', () => {
    const buffer = new OutputBuffer(0);
    expect(buffer.push(Buffer.alloc(0))).toBe(true);
    expect(buffer.push(bytes('x'))).toBe(false);
    expect(buffer.toBuffer().length).toBe(0);
    expect(buffer.total).toBe(1);
  });

  it('cuts by bytes, not characters', () => {
    const buffer = new OutputBuffer(3);
    buffer.push(bytes('éé'));
    expect(buffer.toBuffer()).toEqual(bytes('éé').subarray(0, 3));
  });
});
