/**
 * The machine line of `deno task bench`: /proc/cpuinfo parsed as `grep` and
 * `lscpu`-style reading see it.
 *
 * Deno 2.9 reads `/proc` only under `--allow-all`, which the test task
 * lacks: `machineInfo` then reads it with `cat`, as this test does.
 *
 * Run: `deno test --allow-read --allow-run tests/bench/machine_test.ts`
 */
import { assertEquals } from "@std/assert";
import {
  describeMachine,
  machineInfo,
  parseCpuinfo,
} from "../../tasks/bench/machine.ts";
import { relaxedSimdSupported } from "../../lib/kernels/simd/simd.ts";

Deno.test("machineInfo: this machine's CPU as /proc/cpuinfo says", async () => {
  const cat = await new Deno.Command("cat", { args: ["/proc/cpuinfo"] })
    .output();
  const first = new TextDecoder().decode(cat.stdout).split("\n\n")[0];
  const flags = /^flags\s*:(.*)$/m.exec(first)![1].trim().split(/\s+/);
  const info = await machineInfo();
  assertEquals(info.cpu, /^model name\s*:\s*(.*)$/m.exec(first)![1].trim());
  assertEquals(info.vector.avx512, flags.includes("avx512f"));
  assertEquals(info.vector.avx2, flags.includes("avx2"));
  assertEquals(info.vector.fma, flags.includes("fma"));
  assertEquals(info.family, Number(/^cpu family\s*:\s*(\d+)/m.exec(first)![1]));
  assertEquals(info.relaxedSimd, relaxedSimdSupported());
  assertEquals(info.cores, navigator.hardwareConcurrency);
});

Deno.test("parseCpuinfo: fields absent (not x86, not Linux) are unknown", () => {
  const info = parseCpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\n");
  assertEquals(info, {
    cpu: "unknown",
    family: undefined,
    model: undefined,
    vector: { avx: false, avx2: false, fma: false, avx512: false },
  });
  // "avx512f" is AVX-512; "avx512_bf16" alone or a substring is not.
  const odd = parseCpuinfo("flags\t: avx512_bf16 xavx2 fma4\n");
  assertEquals(odd.vector, {
    avx: false,
    avx2: false,
    fma: false,
    avx512: false,
  });
  assertEquals(
    describeMachine({
      ...odd,
      cores: 1,
      relaxedSimd: false,
      deno: "2",
      v8: "1",
    }),
    "unknown (family ?, model ?), 1 cores, no AVX, no AVX-512; kernels: SIMD128 (no relaxed SIMD) build; Deno 2",
  );
});
