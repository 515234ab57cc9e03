/**
 * Result values as the server's own text, the same for a plain statement (text protocol) and a
 * step with bound parameters (COM_STMT_EXECUTE, binary protocol), and whatever the client's time
 * zone. The connection options (connection.ts) keep mysql2 from converting: dates, times, DECIMAL,
 * BIGINT and JSON arrive as the server's strings, binary columns as bytes. What is left is done
 * here, per column type:
 *
 * - DECIMAL and BIGINT (also SUM() and COUNT(), which are DECIMAL and BIGINT): a number when that
 *   loses nothing (`String(Number(text)) === text`), else the text (`10.50`, `9007199254740993`),
 *   as on PostgreSQL (numeric, int8).
 * - DATE, DATETIME, TIMESTAMP, TIME: the text. mysql2 builds it from the binary protocol's fields
 *   itself and drops the fraction when it is zero (`10:20:30` for a DATETIME(3) `10:20:30.000`,
 *   `10:00:00.5` for a TIME(3) `10:00:00.500`); the column's declared decimals put it back.
 *   TIMESTAMP is shown in the session's time zone by the server, never shifted by the client.
 * - FLOAT: the binary protocol sends the 4-byte float (0.1 arrives as 0.10000000149011612); the
 *   server's text has 6 significant digits (`%g`), or the column's fixed decimals.
 * - BINARY, VARBINARY, BLOB, BIT, GEOMETRY: `0x` and the bytes in upper-case hex, as HEX() prints
 *   them (`0x00FF10`; `0x` for no bytes). In SQL that is `X'00FF10'`, or `UNHEX(SUBSTR(:v, 3))`
 *   for a saved value.
 * - JSON: the server's text (not a parsed object). BOOLEAN is TINYINT(1): 0 or 1, as the server
 *   says. Everything else as mysql2 gives it (integers and DOUBLE as numbers, strings).
 */
import type mysql from 'mysql2/promise';

/** Column types of the MySQL protocol (include/mysql_com.h, enum_field_types). */
const T = {
  DECIMAL: 0,
  FLOAT: 4,
  TIMESTAMP: 7,
  LONGLONG: 8,
  TIME: 11,
  DATETIME: 12,
  NEWDECIMAL: 246,
} as const;

/** `decimals` of a column whose fraction is not fixed (NOT_FIXED_DEC: 31 for numbers, 39 for strings). */
const MAX_FIXED_DECIMALS = 30;

/** What of a column's metadata the conversion needs. */
export type ColumnInfo = Pick<mysql.FieldPacket, 'name' | 'decimals' | 'columnType' | 'type'>;

/** Rows with each value as the server's text (see the file comment). `binary`: came by COM_STMT_EXECUTE. */
export function serverValues(rows: Record<string, unknown>[], fields: readonly ColumnInfo[], binary: boolean): Record<string, unknown>[] {
  // mysql2 keys a row by column name: with two columns of one name the row holds the last one.
  const byName = new Map(fields.map((f) => [f.name, f]));
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(row)) {
      const f = byName.get(name);
      out[name] = f ? serverValue(value, f, binary) : value;
    }
    return out;
  });
}

export function serverValue(value: unknown, field: ColumnInfo, binary: boolean): unknown {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return `0x${value.toString('hex').toUpperCase()}`;
  const type = field.columnType ?? field.type;
  const decimals = Number(field.decimals);
  switch (type) {
    case T.DECIMAL:
    case T.NEWDECIMAL:
    case T.LONGLONG:
      return typeof value === 'string' ? numberIfExact(value) : value;
    case T.DATETIME:
    case T.TIMESTAMP:
    case T.TIME:
      return binary && typeof value === 'string' ? withFraction(value, decimals) : value;
    case T.FLOAT:
      if (!binary || typeof value !== 'number' || !Number.isFinite(value)) return value;
      return Number(decimals <= MAX_FIXED_DECIMALS ? value.toFixed(decimals) : value.toPrecision(6));
    default:
      return value;
  }
}

/** A number when the text is exactly that number's text, else the text. */
export function numberIfExact(text: string): number | string {
  const n = Number(text);
  return String(n) === text ? n : text;
}

/** `hh:mm:ss[.f]` or `yyyy-mm-dd hh:mm:ss[.f]` with exactly the column's fractional digits. */
function withFraction(text: string, decimals: number): string {
  if (!(decimals > 0 && decimals <= 6)) return text;
  const m = /^(.*?)(?:\.(\d*))?$/.exec(text)!;
  return `${m[1]}.${(m[2] ?? '').padEnd(decimals, '0').slice(0, decimals)}`;
}
