/**
 * The API token guards the routes, not a spelling of their URL. Every protected route is
 * sent every request-target form we could think of (percent-encoding of each character,
 * case, slashes, dot segments, parameters, queries, the absolute form of the request line),
 * written by hand over a raw socket so that no client normalises it first. None of them may
 * reach the model or the sandbox without the token; those the router does match must get the
 * 401 (and, with the token, do their work, which proves they were routed). And while bound to
 * loopback the backend answers only requests addressed to a loopback name (DNS rebinding).
 */
import { reply } from "../../dev/fakes/gemini";
import {
  rawRequest,
  startHangingLambda,
  startStack,
  type HangingLambda,
  type RawResponse,
  type Stack,
} from "./harness";

const TOKEN = "s3cret-token";
let lambda: HangingLambda;
let stack: Stack;
let host: string;

beforeAll(async () => {
  // The sandbox endpoint records every invocation (and never answers): any that arrives is a bypass.
  lambda = await startHangingLambda();
  stack = await startStack(() => reply.text("answered"), undefined, {
    API_TOKEN: TOKEN,
    AWS_ENDPOINT_URL_LAMBDA: lambda.url,
  });
  host = `localhost:${stack.backend.port}`;
});
afterAll(async () => {
  await stack?.close();
  await lambda?.close();
});

const BODIES: Record<string, string> = {
  "/api/chat": JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
  "/api/execute": JSON.stringify({ code: "print(1)" }),
};

function request(method: string, target: string, body: string, headers: Record<string, string> = {}): string {
  const all = {
    Host: host,
    "Content-Type": "application/json",
    "Content-Length": String(Buffer.byteLength(body)),
    Connection: "close",
    ...headers,
  };
  return `${method} ${target} HTTP/1.1\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}`)
    .join("\r\n")}\r\n\r\n${body}`;
}

/** Every spelling of `path` we could think of that a router or a proxy might take for it. */
function spellings(path: string): string[] {
  const out = new Set<string>([path]);
  const chars = [...path];
  chars.forEach((c, i) => {
    if (c === "/") return;
    const hex = c.charCodeAt(0).toString(16);
    for (const enc of [`%${hex}`, `%${hex.toUpperCase()}`, `%25${hex}`])
      out.add(chars.slice(0, i).join("") + enc + chars.slice(i + 1).join(""));
  });
  out.add(chars.map((c) => (c === "/" ? c : `%${c.charCodeAt(0).toString(16)}`)).join(""));
  out.add(path.toUpperCase());
  out.add(path.replace(/^\/api/, "/API"));
  out.add(path.replace(/\/(\w)/g, (_m, c: string) => `/${c.toUpperCase()}`));
  out.add(`/${path}`);
  out.add(path.replace("/api/", "/api//"));
  out.add(`${path}/`);
  out.add(`${path}//`);
  out.add(path.replace("/api/", "/api/./"));
  out.add(`/.${path}`);
  out.add(`/x/..${path}`);
  out.add(path.replace("/api/", "/api/x/../"));
  out.add(path.replace("/api/", "/api%2F"));
  out.add(path.replace("/api/", "/api%2f"));
  out.add(path.replace("/api/", "/api\\"));
  out.add(path.replace("/api/", "/api;x=1/"));
  out.add(`${path};x=1`);
  out.add(`${path}?x=1`);
  out.add(`${path}?`);
  out.add(`${path}#frag`);
  out.add(`${path}%00`);
  out.add(`${path}%20`);
  out.add(`${path}.`);
  for (const scheme of ["http", "HTTP", "https"])
    for (const authority of [`localhost:${stack.backend.port}`, "localhost", "127.0.0.1", "x"]) {
      out.add(`${scheme}://${authority}${path}`);
      out.add(`${scheme}://${authority}${path.replace("/api/", "/%61pi/")}`);
      out.add(`${scheme}://${authority}/${path}`);
    }
  return [...out];
}

function expectContractError(response: RawResponse) {
  expect(response.headers["content-type"]).toMatch(/^application\/json/);
  const body = JSON.parse(response.body) as { error: { type: string; message: string } };
  expect(body.error).toEqual({ type: expect.any(String), message: expect.any(String) });
}

describe("API_TOKEN holds for every spelling of every protected route (raw socket)", () => {
  for (const path of Object.keys(BODIES)) {
    it(`${path}: no spelling without the token reaches the model or the sandbox`, async () => {
      const routed: string[] = [];
      for (const target of spellings(path)) {
        const response = await rawRequest(stack.backend.port, request("POST", target, BODIES[path]!));
        expect([target, response.status]).toEqual([target, expect.any(Number)]);
        expect([target, response.status >= 400]).toEqual([target, true]);
        expectContractError(response);
        if (response.status === 401) {
          expect(response.headers["www-authenticate"]).toMatch(/^Bearer/);
          routed.push(target);
        } else
          expect([target, [400, 403, 404, 405]]).toEqual([target, expect.arrayContaining([response.status])]);
      }
      expect(stack.gemini.requests).toHaveLength(0);
      expect(lambda.invocations).toHaveLength(0);
      // The encoded and absolute forms the router does match were all refused by the token check.
      expect(routed).toEqual(
        expect.arrayContaining([path, path.replace("/api/", "/%61pi/"), `http://localhost${path}`]),
      );
      expect(routed.length).toBeGreaterThan(10);
    });
  }

  it("the spellings that were refused with 401 do their work with the token (they were routed)", async () => {
    const target = "http://localhost/%61p%69/ch%61t";
    const response = await rawRequest(
      stack.backend.port,
      request("POST", target, BODIES["/api/chat"]!, { Authorization: `Bearer ${TOKEN}` }),
    );
    expect(response.status).toBe(200);
    expect(response.body).toMatch(/answered/);
    expect(stack.gemini.requests).toHaveLength(1);
  });

  it("a wrong token, a token with another scheme or an empty bearer is refused too", async () => {
    for (const authorization of [
      `Bearer ${TOKEN}x`,
      `Basic ${TOKEN}`,
      "Bearer ",
      `Token ${TOKEN}`,
      `Bearer\t`,
    ])
      expect(
        (
          await rawRequest(
            stack.backend.port,
            request("POST", "/api/execute", BODIES["/api/execute"]!, { Authorization: authorization }),
          )
        ).status,
      ).toBe(401);
    expect(lambda.invocations).toHaveLength(0);
  });

  it("without the token, nothing under /api is told: wrong methods and unknown paths are 401 too", async () => {
    for (const [method, target] of [
      ["GET", "/api/execute"],
      ["OPTIONS", "/api/chat"],
      ["PROPFIND", "/%61pi/execute"],
      ["GET", "/api/nope"],
      ["POST", "/API/execute"],
      ["POST", "http://localhost/api/x"],
    ]) {
      const response = await rawRequest(stack.backend.port, request(method!, target!, ""));
      expect([method, target, response.status]).toEqual([method, target, 401]);
      expectContractError(response);
    }
  });

  it("with the token, other methods on a protected route get 405 with Allow, never the route's work", async () => {
    for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "SEARCH", "QUERY"]) {
      const response = await rawRequest(
        stack.backend.port,
        request(method, "/api/execute", "", { Authorization: `Bearer ${TOKEN}` }),
      );
      expect([method, response.status]).toEqual([method, 405]);
      expect(response.headers["allow"]).toBe("POST");
      expectContractError(response);
    }
    expect(lambda.invocations).toHaveLength(0);
  });
});

describe("bound to loopback, only loopback names are answered (DNS rebinding)", () => {
  const refused = [
    "evil.example",
    `evil.example:${0}`,
    "localhost.evil.example",
    "127.0.0.1.nip.io",
    "attacker.com:80",
    "localhost@evil.example",
    "[::2]",
    // Not host names, though URL parsing reads localhost in each.
    "localhost#evil.example",
    "localhost?evil.example",
    "%6cocalhost",
  ];
  it.each(refused)("Host: %s is refused with 403 before any work", async (name) => {
    const response = await rawRequest(
      stack.backend.port,
      request("POST", "/api/execute", BODIES["/api/execute"]!, {
        Host: name,
        Authorization: `Bearer ${TOKEN}`,
      }),
    );
    expect(response.status).toBe(403);
    expectContractError(response);
    expect(JSON.parse(response.body).error.type).toBe("HostNotAllowed");
    expect(lambda.invocations).toHaveLength(0);
  });

  it("the page itself is not served to a rebinding name either", async () => {
    const response = await rawRequest(
      stack.backend.port,
      request("GET", "/", "", { Host: "rebind.attacker.example" }),
    );
    expect(response.status).toBe(403);
    expect(response.body).not.toMatch(/<html/);
  });

  it("an absolute-form target naming another host is refused even with a loopback Host header", async () => {
    const response = await rawRequest(
      stack.backend.port,
      request("POST", "http://evil.example/api/execute", BODIES["/api/execute"]!, {
        Authorization: `Bearer ${TOKEN}`,
      }),
    );
    expect(response.status).toBe(403);
    expect(lambda.invocations).toHaveLength(0);
  });

  it.each([
    ["loopback first", ["localhost", "evil.example"]],
    ["loopback last", ["evil.example", "localhost"]],
    ["the same twice", ["localhost", "localhost"]],
  ])("two Host headers (%s) are a 400 in the contract's shape, before any work", async (_name, names) => {
    const body = BODIES["/api/execute"]!;
    const response = await rawRequest(
      stack.backend.port,
      `POST /api/execute HTTP/1.1\r\n${names.map((n) => `Host: ${n}\r\n`).join("")}Authorization: Bearer ${TOKEN}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(response.status).toBe(400);
    expectContractError(response);
    expect(JSON.parse(response.body).error.type).toBe("BadRequest");
    expect(lambda.invocations).toHaveLength(0);
  });

  it("HTTP/1.0 without a Host header is refused", async () => {
    const response = await rawRequest(stack.backend.port, "GET /healthz HTTP/1.0\r\n\r\n");
    expect(response.status).toBe(403);
  });

  it.each([
    "localhost",
    `localhost:${1}`,
    "127.0.0.1",
    "127.1.2.3:8080",
    "[::1]:8080",
    "app.localhost",
    "LOCALHOST",
  ])("Host: %s is answered", async (name) => {
    const response = await rawRequest(stack.backend.port, request("GET", "/healthz", "", { Host: name }));
    expect(response.status).toBe(200);
  });
});
