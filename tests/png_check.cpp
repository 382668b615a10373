// Fails unless a PNG loads and is far from uniform: a blank or single-colour frame (a window
// that drew nothing) has few colours and little variance; a chat window with text has many.
#include <stb_image.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: png_check image.png\n");
    return 2;
  }
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(argv[1], &w, &h, &n, 3);
  if (!px) {
    std::fprintf(stderr, "png_check: cannot load %s: %s\n", argv[1], stbi_failure_reason());
    return 1;
  }
  std::set<unsigned> colors;
  double sum = 0, sum2 = 0;
  const size_t count = static_cast<size_t>(w) * h;
  for (size_t i = 0; i < count; ++i) {
    const unsigned char* p = px + i * 3;
    colors.insert(p[0] << 16 | p[1] << 8 | p[2]);
    const double y = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    sum += y;
    sum2 += y * y;
  }
  stbi_image_free(px);
  const double mean = sum / count, stddev = std::sqrt(std::max(0.0, sum2 / count - mean * mean));
  std::printf("png_check: %dx%d, %zu colours, luminance mean %.1f, stddev %.1f\n", w, h,
              colors.size(), mean, stddev);
  const bool ok = w >= 320 && h >= 200 && colors.size() >= 32 && stddev >= 4.0;
  if (!ok) std::fprintf(stderr, "png_check: the image looks blank\n");
  return ok ? 0 : 1;
}
