/**
 * The `application/vnd.amazon.eventstream` framing AWS uses for streamed responses (Bedrock's
 * ConverseStream among them), written from the format's documentation:
 *
 *   total length (u32 BE) | headers length (u32 BE) | prelude CRC32 (u32 BE, of the 8 bytes before)
 *   headers | payload | message CRC32 (u32 BE, of every byte before it)
 *
 * Each header: name length (u8) | name (UTF-8) | value type (u8) | value. Only the types a
 * service sends here are written (7: string, u16 BE length then UTF-8); the decoder reads all
 * fixed-size types too, and refuses a frame whose lengths or CRCs do not hold.
 */
import { crc32 } from "node:zlib";

export type EventHeaders = Record<string, string | number | boolean | Buffer>;

export interface EventMessage {
  headers: EventHeaders;
  payload: Buffer;
}

const PRELUDE_BYTES = 8;
const CRC_BYTES = 4;

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}

export function encodeHeaders(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const nameBytes = Buffer.from(name, "utf8");
    const valueBytes = Buffer.from(value, "utf8");
    if (nameBytes.length > 255) throw new Error(`header name too long: ${name}`);
    const head = Buffer.alloc(1 + nameBytes.length + 1 + 2);
    head.writeUInt8(nameBytes.length, 0);
    nameBytes.copy(head, 1);
    head.writeUInt8(7, 1 + nameBytes.length);
    head.writeUInt16BE(valueBytes.length, 2 + nameBytes.length);
    parts.push(head, valueBytes);
  }
  return Buffer.concat(parts);
}

/** One frame: string headers and a payload, with both CRCs. */
export function encodeMessage(headers: Record<string, string>, payload: Buffer | string): Buffer {
  const headerBytes = encodeHeaders(headers);
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const total = PRELUDE_BYTES + CRC_BYTES + headerBytes.length + body.length + CRC_BYTES;
  const prelude = Buffer.concat([u32(total), u32(headerBytes.length)]);
  const withPreludeCrc = Buffer.concat([prelude, u32(crc32(prelude)), headerBytes, body]);
  return Buffer.concat([withPreludeCrc, u32(crc32(withPreludeCrc))]);
}

/** An event frame as a service sends it: `:event-type`, `:content-type`, `:message-type` event. */
export function eventFrame(eventType: string, payload: object): Buffer {
  return encodeMessage(
    { ":event-type": eventType, ":content-type": "application/json", ":message-type": "event" },
    JSON.stringify(payload),
  );
}

/** A modeled exception inside the stream (`:message-type` exception, `:exception-type`). */
export function exceptionFrame(exceptionType: string, payload: object): Buffer {
  return encodeMessage(
    { ":exception-type": exceptionType, ":content-type": "application/json", ":message-type": "exception" },
    JSON.stringify(payload),
  );
}

/** Splits a buffer holding whole frames into messages; throws on a bad length or CRC. */
export function decodeMessages(data: Buffer): EventMessage[] {
  const messages: EventMessage[] = [];
  let offset = 0;
  while (offset < data.length) {
    if (data.length - offset < PRELUDE_BYTES + CRC_BYTES)
      throw new Error(`truncated prelude at byte ${offset}`);
    const total = data.readUInt32BE(offset);
    const headersLength = data.readUInt32BE(offset + 4);
    if (total < 16 || offset + total > data.length)
      throw new Error(`bad total length ${total} at byte ${offset}`);
    if (crc32(data.subarray(offset, offset + PRELUDE_BYTES)) !== data.readUInt32BE(offset + PRELUDE_BYTES))
      throw new Error(`prelude CRC mismatch at byte ${offset}`);
    if (
      crc32(data.subarray(offset, offset + total - CRC_BYTES)) !==
      data.readUInt32BE(offset + total - CRC_BYTES)
    )
      throw new Error(`message CRC mismatch at byte ${offset}`);
    const headersStart = offset + PRELUDE_BYTES + CRC_BYTES;
    const payloadStart = headersStart + headersLength;
    if (payloadStart > offset + total - CRC_BYTES)
      throw new Error(`headers longer than the frame at byte ${offset}`);
    messages.push({
      headers: decodeHeaders(data.subarray(headersStart, payloadStart)),
      payload: Buffer.from(data.subarray(payloadStart, offset + total - CRC_BYTES)),
    });
    offset += total;
  }
  return messages;
}

function decodeHeaders(data: Buffer): EventHeaders {
  const headers: EventHeaders = {};
  let at = 0;
  while (at < data.length) {
    const nameLength = data.readUInt8(at);
    const name = data.toString("utf8", at + 1, at + 1 + nameLength);
    at += 1 + nameLength;
    const type = data.readUInt8(at++);
    switch (type) {
      case 0:
        headers[name] = true;
        break;
      case 1:
        headers[name] = false;
        break;
      case 2:
        headers[name] = data.readInt8(at);
        at += 1;
        break;
      case 3:
        headers[name] = data.readInt16BE(at);
        at += 2;
        break;
      case 4:
        headers[name] = data.readInt32BE(at);
        at += 4;
        break;
      case 5:
      case 8:
        headers[name] = Number(data.readBigInt64BE(at));
        at += 8;
        break;
      case 6:
      case 7: {
        const length = data.readUInt16BE(at);
        const value = data.subarray(at + 2, at + 2 + length);
        headers[name] = type === 7 ? value.toString("utf8") : Buffer.from(value);
        at += 2 + length;
        break;
      }
      case 9:
        headers[name] = Buffer.from(data.subarray(at, at + 16));
        at += 16;
        break;
      default:
        throw new Error(`unknown header value type ${type} for ${name}`);
    }
  }
  return headers;
}
