import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/common/duration.js';
import { deadlineAfter, outboundBudgetMs } from '../../src/admission/deadline.js';

describe('durations and deadlines', () => {
  it('parses Go-style durations', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('5')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });

  it('keeps a reserve out of the timeout kube-apiserver gives', () => {
    expect(outboundBudgetMs('10s')).toBe(9_000);
    expect(outboundBudgetMs('5s')).toBe(4_500);
    expect(outboundBudgetMs('1s')).toBe(900);
    expect(outboundBudgetMs(undefined)).toBe(9_000);
    expect(outboundBudgetMs('garbage')).toBe(9_000);
    expect(outboundBudgetMs('10m')).toBe(29_000);
  });

  it('counts down on the clock it is given', () => {
    let now = 1000;
    const deadline = deadlineAfter(500, () => now);
    expect(deadline.remainingMs()).toBe(500);
    now += 400;
    expect(deadline.remainingMs()).toBe(100);
    now += 400;
    expect(deadline.remainingMs()).toBe(0);
  });
});
