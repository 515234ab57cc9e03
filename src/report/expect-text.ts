/** How reports name an expectation or an outcome: `clean`, or the anomalies joined by ` + `. */
export function expectText(anomalies: readonly string[]): string {
  return anomalies.length === 0 ? 'clean' : anomalies.join(' + ');
}
