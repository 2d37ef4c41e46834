/** WCAG 2.1 AA contrast of every text and background pair the console and the report use. */
import { describe, expect, it } from 'vitest';
import { contrastRatio } from '../../lib/contrast.js';
import { TEXT_PAIRS } from '../../console/style.js';

describe('the console palette', () => {
  it('computes contrast as WCAG defines it', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrastRatio('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
  });

  it.each(TEXT_PAIRS)('%s on %s meets %s:1 (%s)', (fg, bg, min) => {
    expect(contrastRatio(fg, bg)).toBeGreaterThanOrEqual(min);
  });

  it('code in findings is readable on its tint', () => {
    expect(contrastRatio('#1b1b1b', '#eef0f2')).toBeGreaterThanOrEqual(4.5);
  });
});
