// The synapse placement's per-edge GRU update written by hand, as an XLA FFI custom call: a
// measurement (benchmarks/native_kernel.py), not a code path of the library.
//
// For every edge i->j of one block and every agent p (population last, the vector axis):
//   gx = (a[i] + c[j]) + shared                      (per-neuron input terms, 3M each)
//   gh = sum_k e_ij[k] * Wh[k]                       (hidden product, summed in k order)
//   r = sigmoid(gx_r + gh_r), z = sigmoid(gx_z + gh_z), n = tanh(gx_n + r * (gh_n + bn))
//   h = (1 - z) * n + z * e_ij
//   e_ij <- mask_ij * (e_ij + eta * h)   (add)   or   mask_ij * (e_ij + eta * (h - e_ij))   (lerp)
// sfnn/population.py's arithmetic in its order, except that sigmoid and tanh are this file's
// approximations (absolute error ~1e-7) and multiply-adds may be fused, so results agree with
// the XLA path to rounding, not bit for bit. 16 agents at a time as GCC vector types; the last
// P % 16 agents go through the same vector code on zero-padded copies, so every agent's
// numbers are computed by the same instructions wherever it sits in the population.
// Question it answers: is XLA's fused loop for this update far from what the CPU can do?
// (Measured: no; docs/PERFORMANCE.md.)
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

typedef float V __attribute__((vector_size(64)));
typedef float VU __attribute__((vector_size(64), aligned(4)));  // unaligned loads and stores
typedef int32_t VI __attribute__((vector_size(64)));
constexpr int64_t L = 16;

#define INLINE __attribute__((always_inline)) inline  // out-of-line calls spill every vector

INLINE V splat(float x) { return V{} + x; }
INLINE V vmin(V a, V b) { return a < b ? a : b; }
INLINE V vmax(V a, V b) { return a > b ? a : b; }
INLINE V load(const float* p) { return *reinterpret_cast<const VU*>(p); }
INLINE void store(float* p, V v) { *reinterpret_cast<VU*>(p) = v; }

// 1/x: AVX-512's 14-bit reciprocal estimate and one Newton step (~1 ulp).
INLINE V recip(V x) {
#if defined(__AVX512F__)
  V r = reinterpret_cast<V>(_mm512_rcp14_ps(reinterpret_cast<__m512>(x)));
  return r * (2.0f - x * r);
#else
  return 1.0f / x;
#endif
}

INLINE V exp_approx(V x) {
  // 2^n * e^r with r in [-ln2/2, ln2/2]; Cephes' degree-6 polynomial for e^r.
  x = vmin(vmax(x, splat(-87.0f)), splat(88.0f));
  const V magic = splat(12582912.0f);  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  V n = (x * 1.44269504088896341f + magic) - magic;
  V r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  V p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  VI bits = (__builtin_convertvector(n, VI) + 127) << 23;
  return p * reinterpret_cast<V&>(bits);
}

INLINE V tanh_approx(V x) {
  // A 13/6 rational minimax approximation on [-7.9, 7.9] (beyond it tanh is 1 in float).
  const V c = splat(7.90531110763549805f);
  V xc = vmin(vmax(x, -c), c);
  V x2 = xc * xc;
  V p = splat(-2.76076847742355e-16f);
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * xc;
  V q = splat(1.19825839466702e-06f);
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return p * recip(q);
}

INLINE V sigmoid(V x) {
#ifdef SIGMOID_VIA_TANH  // one rational instead of exp + reciprocal: ~11 % faster in isolation
  return 0.5f * tanh_approx(0.5f * x) + 0.5f;
#else
  return recip(1.0f + exp_approx(-x));
#endif
}

struct Block {
  const float *edges, *mask, *a, *c, *shared, *wh, *bn;
  float *out;
  int64_t n_pre, n_post, p;
  float eta;
  bool lerp;
};

// One edge, 16 agents: every pointer is already offset to the first of the 16 lanes; rows of
// the edge-indexed arrays are `s` floats apart and rows of the per-agent genome arrays `sw`
// (the population size, or 16 for a padded tail).
template <int M>
INLINE void update16(const float* e, const float* mk, const float* ai, const float* cj, const float* sh,
                     const float* wh, const float* bn, float* o, int64_t s, int64_t sw, float eta, bool lerp) {
  constexpr int G = 3 * M;
  V h[M];
#pragma GCC unroll 8
  for (int k = 0; k < M; ++k) h[k] = load(e + k * s);
  const V m = load(mk);
#pragma GCC unroll 8
  for (int k = 0; k < M; ++k) {
    // Channel k's three gate rows: gx + sum_kk h[kk] * Wh[kk][row] (summed in kk order).
    V ghr = h[0] * load(wh + k * sw), ghz = h[0] * load(wh + (M + k) * sw), ghn = h[0] * load(wh + (2 * M + k) * sw);
#pragma GCC unroll 8
    for (int kk = 1; kk < M; ++kk) {
      ghr = ghr + h[kk] * load(wh + (kk * G + k) * sw);
      ghz = ghz + h[kk] * load(wh + (kk * G + M + k) * sw);
      ghn = ghn + h[kk] * load(wh + (kk * G + 2 * M + k) * sw);
    }
    const V xr = (load(ai + k * s) + load(cj + k * s)) + load(sh + k * sw);
    const V xz = (load(ai + (M + k) * s) + load(cj + (M + k) * s)) + load(sh + (M + k) * sw);
    const V xn = (load(ai + (2 * M + k) * s) + load(cj + (2 * M + k) * s)) + load(sh + (2 * M + k) * sw);
    const V r = sigmoid(xr + ghr);
    const V z = sigmoid(xz + ghz);
    const V n = tanh_approx(xn + r * (ghn + load(bn + k * sw)));
    const V hn = (1.0f - z) * n + z * h[k];
    const V v = lerp ? h[k] + eta * (hn - h[k]) : h[k] + eta * hn;
    store(o + k * s, v * m);
  }
}

// Edges [begin, end) of the flattened (pre, post) grid, all agents.
template <int M>
void update_edges(const Block& b, int64_t begin, int64_t end) {
  constexpr int G = 3 * M;
  const int64_t P = b.p, full = P - P % L;
  for (int64_t ij = begin; ij < end; ++ij) {
    const int64_t i = ij / b.n_post, j = ij % b.n_post;
    const float* e = b.edges + ij * M * P;
    const float* mk = b.mask + ij * P;
    const float* ai = b.a + i * G * P;
    const float* cj = b.c + j * G * P;
    float* o = b.out + ij * M * P;
    for (int64_t q = 0; q < full; q += L)
      update16<M>(e + q, mk + q, ai + q, cj + q, b.shared + q, b.wh + q, b.bn + q, o + q, P, P, b.eta, b.lerp);
    if (full < P) {
      // The last P % 16 agents: copied into zero-padded 16-lane rows, the same vector code.
      const int64_t rest = P - full;
      float te[M * L] = {}, tm[L] = {}, ta[G * L] = {}, tc[G * L] = {}, ts[G * L] = {}, tw[M * G * L] = {},
            tb[M * L] = {}, to[M * L];
      for (int64_t x = 0; x < rest; ++x) {
        tm[x] = mk[full + x];
        for (int k = 0; k < M; ++k) te[k * L + x] = e[k * P + full + x], tb[k * L + x] = b.bn[k * P + full + x];
        for (int l = 0; l < G; ++l) {
          ta[l * L + x] = ai[l * P + full + x];
          tc[l * L + x] = cj[l * P + full + x];
          ts[l * L + x] = b.shared[l * P + full + x];
        }
        for (int l = 0; l < M * G; ++l) tw[l * L + x] = b.wh[l * P + full + x];
      }
      update16<M>(te, tm, ta, tc, ts, tw, tb, to, L, L, b.eta, b.lerp);
      for (int64_t x = 0; x < rest; ++x)
        for (int k = 0; k < M; ++k) o[k * P + full + x] = to[k * L + x];
    }
  }
}

template <int M>
void run_block(const Block& b, ffi::ThreadPool& pool) {
  const int64_t n_edges = b.n_pre * b.n_post;
  // Work in chunks of edges; the calling thread works too and only waits for chunks that a
  // pool thread has actually taken, so a busy pool cannot deadlock the call.
  const int64_t threads = std::max<int64_t>(1, pool.num_threads());
  const int64_t min_chunk = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, b.p));
  const int64_t chunk = std::max(min_chunk, (n_edges + 4 * threads - 1) / (4 * threads));
  const int64_t n_chunks = (n_edges + chunk - 1) / chunk;
  if (threads == 1 || n_chunks == 1) {
    update_edges<M>(b, 0, n_edges);
    return;
  }
  struct Shared {
    Block b;
    int64_t chunk, n_edges, n_chunks;
    std::atomic<int64_t> next{0}, done{0};
    std::mutex mu;
    std::condition_variable cv;
  };
  auto s = std::make_shared<Shared>();
  s->b = b;
  s->chunk = chunk;
  s->n_edges = n_edges;
  s->n_chunks = n_chunks;
  auto work = [](Shared& st) {
    for (int64_t k; (k = st.next.fetch_add(1)) < st.n_chunks;) {
      update_edges<M>(st.b, k * st.chunk, std::min(st.n_edges, (k + 1) * st.chunk));
      if (st.done.fetch_add(1) + 1 == st.n_chunks) {
        std::lock_guard<std::mutex> lock(st.mu);
        st.cv.notify_all();
      }
    }
  };
  for (int64_t t = 1; t < std::min(threads, n_chunks); ++t) pool.Schedule([s, work] { work(*s); });
  work(*s);
  std::unique_lock<std::mutex> lock(s->mu);
  s->cv.wait(lock, [&] { return s->done.load() == s->n_chunks; });
}

ffi::Error EdgeGru(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> edges, ffi::Buffer<ffi::F32> mask,
                   ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> c, ffi::Buffer<ffi::F32> shared,
                   ffi::Buffer<ffi::F32> wh, ffi::Buffer<ffi::F32> bn,
                   ffi::ResultBuffer<ffi::F32> out, float eta, int32_t lerp) {
  auto d = edges.dimensions();
  if (d.size() != 4) return ffi::Error::InvalidArgument("edges must be (pre, post, M, P)");
  Block b{edges.typed_data(), mask.typed_data(), a.typed_data(), c.typed_data(),
          shared.typed_data(), wh.typed_data(), bn.typed_data(), out->typed_data(),
          d[0], d[1], d[3], eta, lerp != 0};
  switch (d[2]) {
    case 1: run_block<1>(b, pool); break;
    case 2: run_block<2>(b, pool); break;
    case 3: run_block<3>(b, pool); break;
    case 4: run_block<4>(b, pool); break;
    case 5: run_block<5>(b, pool); break;
    case 6: run_block<6>(b, pool); break;
    case 7: run_block<7>(b, pool); break;
    case 8: run_block<8>(b, pool); break;
    default: return ffi::Error::InvalidArgument("the edge-GRU kernel supports 1 to 8 channels");
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SfnnEdgeGru, EdgeGru,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<float>("eta")
                                  .Attr<int32_t>("lerp"));
