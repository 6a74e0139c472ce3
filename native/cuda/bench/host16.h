/* Host-side float <-> 16-bit conversions of the native benchmark / check drivers (round to nearest even; the
 * half conversion covers the normal range only, which is all the drivers' inputs use). */
#pragma once
#include <stdint.h>
#include <string.h>
#include "mambaref_cuda.h"

static inline uint16_t to16(float x, int dtype) {
    uint32_t b;
    memcpy(&b, &x, 4);
    if (dtype == MR_BF16) return (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
    uint32_t sign = (b >> 16) & 0x8000u;
    int32_t e = (int32_t)((b >> 23) & 0xFF) - 127 + 15;
    uint32_t mant = b & 0x7FFFFFu;
    if (e <= 0) return (uint16_t)sign;
    uint32_t h = sign | ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)h;
}

static inline float from16(uint16_t h, int dtype) {
    uint32_t w;
    float v;
    if (dtype == MR_BF16) w = (uint32_t)h << 16;
    else {
        uint32_t s = (h & 0x8000u) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
        w = e == 0 ? s : (s | ((e - 15 + 127) << 23) | (m << 13));
    }
    memcpy(&v, &w, 4);
    return v;
}
