import { equal } from "node:assert/strict";
import { canonicalJson, sha256Hex } from "./mod.ts";

Deno.test("sha256Hex matches the standard test vectors", () => {
  equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  equal(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  equal(
    sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  equal(
    sha256Hex("a".repeat(1000)),
    "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3",
  );
  equal(sha256Hex("é ✓ 🚀"), "5b2abddc15f3904d375e70419818706853b292bcf3d78f6f435d4acc13fc453e");
  // Lengths around the padding boundaries of one 64-byte block.
  equal(
    sha256Hex("x".repeat(55)),
    "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072",
  );
  equal(
    sha256Hex("x".repeat(56)),
    "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e",
  );
  equal(
    sha256Hex("x".repeat(64)),
    "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c",
  );
});

Deno.test("canonicalJson sorts keys and drops undefined members", () => {
  equal(
    canonicalJson({ b: 1, a: [{ d: undefined, c: "x" }, null], e: { z: true, y: 2 } }),
    '{"a":[{"c":"x"},null],"b":1,"e":{"y":2,"z":true}}',
  );
});
