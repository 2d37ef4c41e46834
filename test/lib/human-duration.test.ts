import { describe, expect, it } from 'vitest';
import { humanDuration } from '../../lib/human-duration.js';

describe('humanDuration', () => {
  it('says durations in the two largest units, never in milliseconds', () => {
    expect(humanDuration(60_000)).toBe('1m');
    expect(humanDuration(86_400_000)).toBe('1d');
    expect(humanDuration(86_340_000)).toBe('23h 59m');
    expect(humanDuration(90 * 60_000 + 5_000)).toBe('1h 30m');
    expect(humanDuration(59_999)).toBe('59s');
    expect(humanDuration(86_400_000 + 5 * 60_000)).toBe('1d'); // 1d 0h 5m: the next unit down is 0
    expect(humanDuration(500)).toBe('<1s');
    expect(humanDuration(0)).toBe('0s');
    expect(humanDuration(-5)).toBe('0s');
  });
});
