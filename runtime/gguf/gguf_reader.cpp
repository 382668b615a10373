#include "runtime/gguf/gguf_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <sstream>
#include <utility>

#include "runtime/gguf/map_guard.h"
#include "runtime/util/safe_file.h"

namespace vkmoe {

static_assert(std::endian::native == std::endian::little, "the reader loads values with memcpy");

namespace {

template <typename... A>
std::string cat(const A&... a) {
  std::ostringstream o;
  (o << ... << a);
  return o.str();
}

// Keys and names come from the file: escape control bytes and shorten them before they go into
// a message, so a hostile name cannot flood or garble the caller's log.
std::string quote_name(std::string_view s, size_t max = 80) {
  std::string r = "'";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == max) {
      r += "...";
      break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      r += "\\x";
      r += kHex[c >> 4];
      r += kHex[c & 15];
    } else {
      r += static_cast<char>(c);
    }
  }
  return r + "'";
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint64_t saturating_add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<uint64_t>::max() : r;
}

std::string format_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string format_float(float v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// An integer of any GGUF integer type, exact: u64 values above int64 max stay unsigned.
struct AnyInt {
  bool is_signed;
  int64_t i;
  uint64_t u;
  std::string str() const { return is_signed ? std::to_string(i) : std::to_string(u); }
  template <typename T>
  std::optional<T> to() const {
    if (is_signed) return std::in_range<T>(i) ? std::optional<T>(static_cast<T>(i)) : std::nullopt;
    return std::in_range<T>(u) ? std::optional<T>(static_cast<T>(u)) : std::nullopt;
  }
};

AnyInt int_at(GgufValueType t, const uint8_t* p) {
  switch (t) {
    case GgufValueType::UINT8: return {false, 0, load<uint8_t>(p)};
    case GgufValueType::INT8: return {true, load<int8_t>(p), 0};
    case GgufValueType::UINT16: return {false, 0, load<uint16_t>(p)};
    case GgufValueType::INT16: return {true, load<int16_t>(p), 0};
    case GgufValueType::UINT32: return {false, 0, load<uint32_t>(p)};
    case GgufValueType::INT32: return {true, load<int32_t>(p), 0};
    case GgufValueType::UINT64: return {false, 0, load<uint64_t>(p)};
    case GgufValueType::INT64: return {true, load<int64_t>(p), 0};
    default: return {false, 0, 0};  // callers check gguf_is_integer first
  }
}

// Bytes a value of each type takes at the least; bounds how many can fit in what remains.
uint64_t min_value_bytes(GgufValueType t) {
  if (t == GgufValueType::STRING) return 8;
  if (t == GgufValueType::ARRAY) return 12;
  return gguf_scalar_size(t);
}

// Reads the file front to back. Every read checks the bytes remaining first; `context` names
// what is being read ("key 'x'", "tensor #3") so the messages say where the file went wrong.
class Cursor {
 public:
  Cursor(const std::string& file, const uint8_t* p, uint64_t size) : file_(file), p_(p), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  std::string context;

  [[noreturn]] void fail(const std::string& what) const { throw GgufError(file_, what); }

  // `what` and `what2` are joined only when the check fails: this runs once per vocabulary token.
  void need(uint64_t n, std::string_view what, std::string_view what2 = {}) const {
    if (n > remaining())
      fail(cat("truncated: ", what, what2, " of ", context, " at offset ", pos_, " needs ", n,
               " bytes but the file ends at ", size_));
  }
  template <typename T>
  T read(std::string_view what, std::string_view what2 = {}) {
    need(sizeof(T), what, what2);
    T v = load<T>(p_ + pos_);
    pos_ += sizeof(T);
    return v;
  }
  std::string_view read_string(std::string_view what) {
    uint64_t at = pos_;
    auto n = read<uint64_t>(what, " length");
    if (n > remaining())
      fail(cat(what, " of ", context, " at offset ", at, " has length ", n,
               ", past the end of the file (size ", size_, ")"));
    std::string_view s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }

  // The name of entry #i of a kind ("key", "tensor"); later messages name the entry by it.
  std::string_view read_name(std::string_view kind, uint64_t i) {
    context = cat(kind, " #", i);
    std::string_view name = read_string("name");
    context = cat(kind, " ", quote_name(name));
    return name;
  }

  // Skips one value of type t; `depth` is the array depth of the value itself (0: not in an array).
  void skip_value(GgufValueType t, uint32_t depth) {
    if (t == GgufValueType::STRING) {
      read_string("string");
    } else if (t == GgufValueType::ARRAY) {
      auto [elem, count] = read_array_header();
      skip_array(elem, count, depth + 1);
    } else {
      need(gguf_scalar_size(t), gguf_type_name(t));
      pos_ += gguf_scalar_size(t);
    }
  }

  std::pair<GgufValueType, uint64_t> read_array_header() {
    auto elem = read<uint32_t>("array element type");
    if (!gguf_type_valid(elem)) fail(cat(context, " has an array of unknown value type ", elem));
    auto count = read<uint64_t>("array length");
    return {static_cast<GgufValueType>(elem), count};
  }

  // The elements of an array at `depth` (1 for a top-level array).
  void skip_array(GgufValueType elem, uint64_t count, uint32_t depth) {
    if (elem == GgufValueType::ARRAY && depth + 1 > kGgufMaxArrayDepth)
      fail(cat(context, " has arrays nested deeper than ", kGgufMaxArrayDepth));
    // Every element takes some bytes, so a count the rest of the file cannot hold is rejected
    // before the walk; the walk then costs at most one step per byte.
    if (count > remaining() / min_value_bytes(elem))
      fail(cat("array of ", count, " x ", gguf_type_name(elem), " in ", context, " at offset ", pos_,
               " runs past the end of the file (size ", size_, ")"));
    if (uint32_t s = gguf_scalar_size(elem)) {
      pos_ += count * s;
      return;
    }
    for (uint64_t i = 0; i < count; ++i) skip_value(elem, depth);
  }

 private:
  const std::string& file_;
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

constexpr uint64_t kReserveCap = 1 << 16;

struct KvEntry {
  std::string key;
  GgufValueType type;
  GgufValueType array_type;  // == type for non-arrays
  uint64_t array_size;
  uint64_t pos;  // the value's bytes; for arrays, the first element
};

}  // namespace

struct GgufFile::Impl {
  std::string name;
  std::vector<uint8_t> owned;  // from_memory
  void* map = nullptr;         // open
  size_t map_size = 0;
  int fd = -1;                 // open: kept to re-check the file's size
  int guard = -1;              // map_guard slot
  const uint8_t* data = nullptr;
  uint64_t size = 0;

  uint32_t version = 0;
  uint64_t alignment = kGgufDefaultAlignment;
  uint64_t data_offset = 0;
  std::vector<KvEntry> kvs;
  std::map<std::string, size_t, std::less<>> kv_index;
  std::vector<GgufTensorInfo> tensors;
  std::map<std::string, size_t, std::less<>> tensor_index;

  ~Impl() {
    map_guard_remove(guard);
    if (map) munmap(map, map_size);
    if (fd >= 0) ::close(fd);
  }

  [[noreturn]] void fail(const std::string& what) const { throw GgufError(name, what); }

  void parse();
  void parse_header(Cursor& c, uint64_t& tensor_count, uint64_t& kv_count);
  void parse_metadata(Cursor& c, uint64_t kv_count);
  void parse_tensor_infos(Cursor& c, uint64_t tensor_count);
  void check_tensor_layout();

  const KvEntry* find(std::string_view key) const {
    auto it = kv_index.find(key);
    return it == kv_index.end() ? nullptr : &kvs[it->second];
  }
  [[noreturn]] void wrong_type(const KvEntry& e, std::string_view expected) const {
    if (e.type == GgufValueType::ARRAY)
      fail(cat("key ", quote_name(e.key), " is an array of ", gguf_type_name(e.array_type), ", expected ",
               expected));
    fail(cat("key ", quote_name(e.key), " has type ", gguf_type_name(e.type), ", expected ", expected));
  }
  // The entry of an array key whose elements pass `ok`; nullptr when absent.
  template <typename Ok>
  const KvEntry* find_array(std::string_view key, Ok ok, std::string_view expected) const {
    const KvEntry* e = find(key);
    if (e && (e->type != GgufValueType::ARRAY || !ok(e->array_type))) wrong_type(*e, expected);
    return e;
  }
  template <typename T>
  std::optional<T> get_integer(std::string_view key, std::string_view expected, std::string_view problem) const {
    const KvEntry* e = find(key);
    if (!e) return std::nullopt;
    if (!gguf_is_integer(e->type)) wrong_type(*e, expected);
    AnyInt a = int_at(e->type, data + e->pos);
    auto v = a.template to<T>();
    if (!v) fail(cat("key ", quote_name(key), " value ", a.str(), problem));
    return v;
  }
  template <typename T>
  std::vector<T> int_array(std::string_view key, std::string_view expected) const;
  GgufValue decode(GgufValueType t, uint64_t& pos) const;
};

void GgufFile::Impl::parse_header(Cursor& c, uint64_t& tensor_count, uint64_t& kv_count) {
  c.context = "the header";
  auto magic = c.read<uint32_t>("magic");
  if (magic != kGgufMagic)
    fail(cat("bad magic ", quote_name(std::string_view(reinterpret_cast<const char*>(data), 4)),
             " (not a GGUF file)"));
  version = c.read<uint32_t>("version");
  if (version == 1) fail("GGUF version 1 is not supported (it has 32-bit counts); convert the file to v3");
  if (version != 2 && version != 3) {
    uint32_t swapped = __builtin_bswap32(version);
    if (swapped == 2 || swapped == 3)
      fail(cat("unsupported GGUF version ", version, ": this looks like a big-endian file, only little-endian is supported"));
    fail(cat("unsupported GGUF version ", version, " (expected 2 or 3)"));
  }
  tensor_count = c.read<uint64_t>("tensor count");
  kv_count = c.read<uint64_t>("metadata count");
  // Smallest entries: a key (8-byte length, u32 type, 1-byte value), a tensor (8-byte name
  // length, u32 dims, one u64 dim, u32 type, u64 offset). Counts that cannot fit are rejected
  // here; even so, the lists below only reserve a capped amount and grow with what is parsed, so
  // a huge file with a huge count costs memory only as its entries are really read.
  constexpr uint64_t kMinKv = 8 + 4 + 1, kMinTensor = 8 + 4 + 8 + 4 + 8;
  if (kv_count > c.remaining() / kMinKv)
    fail(cat("metadata count ", kv_count, " cannot fit in the ", c.remaining(), " bytes after the header"));
  if (tensor_count > (c.remaining() - kv_count * kMinKv) / kMinTensor)
    fail(cat("tensor count ", tensor_count, " cannot fit in the ", c.remaining(),
             " bytes after the header (with ", kv_count, " keys)"));
}

void GgufFile::Impl::parse_metadata(Cursor& c, uint64_t kv_count) {
  kvs.reserve(std::min<uint64_t>(kv_count, kReserveCap));
  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string_view key = c.read_name("key", i);
    if (kv_index.contains(key)) fail(cat("duplicate key ", quote_name(key)));
    auto type = c.read<uint32_t>("value type");
    if (!gguf_type_valid(type)) fail(cat(c.context, " has unknown value type ", type));
    KvEntry e{std::string(key), static_cast<GgufValueType>(type), static_cast<GgufValueType>(type), 0, 0};
    if (e.type == GgufValueType::ARRAY) {
      std::tie(e.array_type, e.array_size) = c.read_array_header();
      e.pos = c.pos();
      c.skip_array(e.array_type, e.array_size, 1);
    } else {
      e.pos = c.pos();
      c.skip_value(e.type, 0);
    }
    kv_index.emplace(e.key, kvs.size());
    kvs.push_back(std::move(e));
  }
  if (const KvEntry* e = find("general.alignment")) {
    if (e->type != GgufValueType::UINT32) wrong_type(*e, "uint32");
    alignment = load<uint32_t>(data + e->pos);
    if (!std::has_single_bit(alignment)) fail(cat("alignment ", alignment, " is not a power of two"));
  }
}

void GgufFile::Impl::parse_tensor_infos(Cursor& c, uint64_t tensor_count) {
  tensors.reserve(std::min<uint64_t>(tensor_count, kReserveCap));
  for (uint64_t i = 0; i < tensor_count; ++i) {
    std::string_view name = c.read_name("tensor", i);
    auto n_dims = c.read<uint32_t>("dimension count");
    if (n_dims == 0 || n_dims > kGgufMaxDims)
      fail(cat(c.context, " has ", n_dims, " dimensions (1 to ", kGgufMaxDims, " allowed)"));
    GgufTensorInfo t;
    t.name = std::string(name);
    for (uint32_t d = 0; d < n_dims; ++d) t.shape.push_back(c.read<uint64_t>("dimension"));
    auto type = c.read<uint32_t>("type");
    t.offset = c.read<uint64_t>("offset");
    if (tensor_index.contains(name)) fail(cat("duplicate tensor name ", quote_name(name)));
    GgufTensorSize size = gguf_tensor_size(type, t.shape);
    if (!size.error.empty()) fail(cat(c.context, " ", size.error));
    t.type = static_cast<GgmlType>(type);
    t.bytes = size.bytes;
    if (t.offset % alignment != 0)
      fail(cat(c.context, " offset ", t.offset, " is not a multiple of the alignment ", alignment));
    tensor_index.emplace(t.name, tensors.size());
    tensors.push_back(std::move(t));
  }
  // pos <= size, and the alignment is at most 2^31, so this cannot overflow.
  data_offset = (c.pos() + alignment - 1) / alignment * alignment;
}

void GgufFile::Impl::check_tensor_layout() {
  auto range = [&](const GgufTensorInfo& t) {
    uint64_t begin = saturating_add(data_offset, t.offset);
    return std::pair{begin, saturating_add(begin, t.bytes)};
  };
  for (const auto& t : tensors) {
    auto [begin, end] = range(t);
    if (end > size)
      fail(cat("tensor ", quote_name(t.name), " data [", begin, ", ", end,
               ") lies past the end of the file (size ", size, ")"));
  }
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const auto& a = tensors[order[i - 1]];
    const auto& b = tensors[order[i]];
    auto [a_begin, a_end] = range(a);
    auto [b_begin, b_end] = range(b);
    if (b_begin < a_end)
      fail(cat("tensors ", quote_name(a.name), " [", a_begin, ", ", a_end, ") and ", quote_name(b.name), " [",
               b_begin, ", ", b_end, ") overlap"));
  }
}

void GgufFile::Impl::parse() {
  Cursor c(name, data, size);
  uint64_t tensor_count = 0, kv_count = 0;
  parse_header(c, tensor_count, kv_count);
  parse_metadata(c, kv_count);
  parse_tensor_infos(c, tensor_count);
  check_tensor_layout();
}

// Values were walked at open(), so decoding trusts the lengths it meets.
GgufValue GgufFile::Impl::decode(GgufValueType t, uint64_t& pos) const {
  GgufValue v;
  v.type = t;
  const uint8_t* p = data + pos;
  switch (t) {
    case GgufValueType::STRING: {
      auto n = load<uint64_t>(p);
      v.s.assign(reinterpret_cast<const char*>(p + 8), n);
      pos += 8 + n;
      return v;
    }
    case GgufValueType::ARRAY: {
      v.array_type = static_cast<GgufValueType>(load<uint32_t>(p));
      auto n = load<uint64_t>(p + 4);
      pos += 12;
      v.items.reserve(n);
      for (uint64_t i = 0; i < n; ++i) v.items.push_back(decode(v.array_type, pos));
      return v;
    }
    case GgufValueType::FLOAT32: v.f = load<float>(p); break;
    case GgufValueType::FLOAT64: v.f = load<double>(p); break;
    case GgufValueType::BOOL: v.u = load<uint8_t>(p) != 0; break;
    default: {
      AnyInt a = int_at(t, p);
      if (a.is_signed) v.i = a.i; else v.u = a.u;
    }
  }
  pos += gguf_scalar_size(t);
  return v;
}

template <typename T>
std::vector<T> GgufFile::Impl::int_array(std::string_view key, std::string_view expected) const {
  const KvEntry* e = find_array(key, gguf_is_integer, cat("an array of ", expected));
  std::vector<T> out;
  if (!e) return out;
  out.reserve(e->array_size);
  uint32_t step = gguf_scalar_size(e->array_type);
  for (uint64_t i = 0; i < e->array_size; ++i) {
    AnyInt a = int_at(e->array_type, data + e->pos + i * step);
    auto v = a.template to<T>();
    if (!v)
      fail(cat("key ", quote_name(e->key), " element ", i, " value ", a.str(), " does not fit ", expected));
    out.push_back(*v);
  }
  return out;
}

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->name = path.string();
  try {
    impl->fd = open_regular_file(path);  // refuses directories and FIFOs without blocking
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (msg.rfind(impl->name + ": ", 0) == 0) msg.erase(0, impl->name.size() + 2);  // GgufError adds the path
    throw GgufError(impl->name, msg);
  }
  struct stat st {};
  if (fstat(impl->fd, &st) != 0) impl->fail(cat("cannot stat: ", std::strerror(errno)));
  impl->size = static_cast<uint64_t>(st.st_size);
  if (impl->size > 0) {
    void* m = mmap(nullptr, impl->size, PROT_READ, MAP_PRIVATE, impl->fd, 0);
    if (m == MAP_FAILED) impl->fail(cat("cannot map: ", std::strerror(errno)));
    impl->map = m;
    impl->map_size = impl->size;
    impl->data = static_cast<const uint8_t*>(m);
    impl->guard = map_guard_add(m, impl->size);
  }
  impl->parse();
  GgufFile f(std::move(impl));
  f.check_intact();
  return f;
}

void GgufFile::check_intact() const {
  if (impl_->fd < 0) return;
  struct stat st {};
  const bool stat_ok = fstat(impl_->fd, &st) == 0;
  if (!map_guard_faulted(impl_->guard) && stat_ok && static_cast<uint64_t>(st.st_size) == impl_->size) return;
  impl_->fail(cat("the file changed while it was in use (", impl_->size, " bytes when opened, ",
                  stat_ok ? std::to_string(st.st_size) : std::string("unknown"),
                  " now); was it overwritten? Run again once it is complete"));
}

GgufFile GgufFile::from_memory(std::vector<uint8_t> bytes, std::string name) {
  auto impl = std::make_unique<Impl>();
  impl->name = std::move(name);
  impl->owned = std::move(bytes);
  impl->data = impl->owned.data();
  impl->size = impl->owned.size();
  impl->parse();
  return GgufFile(std::move(impl));
}

const std::string& GgufFile::name() const { return impl_->name; }
uint32_t GgufFile::version() const { return impl_->version; }
uint64_t GgufFile::alignment() const { return impl_->alignment; }
uint64_t GgufFile::data_offset() const { return impl_->data_offset; }
uint64_t GgufFile::file_size() const { return impl_->size; }

bool GgufFile::has(std::string_view key) const { return impl_->find(key) != nullptr; }

std::optional<GgufValueType> GgufFile::type_of(std::string_view key) const {
  const KvEntry* e = impl_->find(key);
  return e ? std::optional(e->type) : std::nullopt;
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
  const KvEntry* e = impl_->find(key);
  if (!e) return std::nullopt;
  if (e->type != GgufValueType::STRING) impl_->wrong_type(*e, "string");
  const uint8_t* p = impl_->data + e->pos;
  return std::string_view(reinterpret_cast<const char*>(p + 8), load<uint64_t>(p));
}

std::optional<uint64_t> GgufFile::get_uint(std::string_view key) const {
  return impl_->get_integer<uint64_t>(key, "an unsigned integer", " is negative, expected an unsigned integer");
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  return impl_->get_integer<int64_t>(key, "an integer", " does not fit int64");
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const KvEntry* e = impl_->find(key);
  if (!e) return std::nullopt;
  const uint8_t* p = impl_->data + e->pos;
  if (e->type == GgufValueType::FLOAT32) return load<float>(p);
  if (e->type == GgufValueType::FLOAT64) return load<double>(p);
  if (!gguf_is_integer(e->type)) impl_->wrong_type(*e, "a number");
  AnyInt a = int_at(e->type, p);
  return a.is_signed ? static_cast<double>(a.i) : static_cast<double>(a.u);
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const KvEntry* e = impl_->find(key);
  if (!e) return std::nullopt;
  if (e->type != GgufValueType::BOOL) impl_->wrong_type(*e, "bool");
  return impl_->data[e->pos] != 0;
}

std::optional<GgufValue> GgufFile::get_value(std::string_view key) const {
  const KvEntry* e = impl_->find(key);
  if (!e) return std::nullopt;
  uint64_t pos = e->pos;
  if (e->type != GgufValueType::ARRAY) return impl_->decode(e->type, pos);
  // The array header sits before e->pos (u32 type, u64 count).
  pos -= 12;
  return impl_->decode(GgufValueType::ARRAY, pos);
}

std::optional<GgufValueType> GgufFile::array_type(std::string_view key) const {
  const KvEntry* e = impl_->find(key);
  if (!e || e->type != GgufValueType::ARRAY) return std::nullopt;
  return e->array_type;
}

size_t GgufFile::array_size(std::string_view key) const {
  const KvEntry* e = impl_->find(key);
  return e && e->type == GgufValueType::ARRAY ? e->array_size : 0;
}

std::vector<std::string_view> GgufFile::get_string_array(std::string_view key) const {
  auto is_string = [](GgufValueType t) { return t == GgufValueType::STRING; };
  const KvEntry* e = impl_->find_array(key, is_string, "an array of string");
  std::vector<std::string_view> out;
  if (!e) return out;
  out.reserve(e->array_size);
  const uint8_t* p = impl_->data + e->pos;
  for (uint64_t i = 0; i < e->array_size; ++i) {
    auto n = load<uint64_t>(p);
    out.emplace_back(reinterpret_cast<const char*>(p + 8), n);
    p += 8 + n;
  }
  return out;
}

std::vector<float> GgufFile::get_f32_array(std::string_view key) const {
  auto is_float = [](GgufValueType t) { return t == GgufValueType::FLOAT32 || t == GgufValueType::FLOAT64; };
  const KvEntry* e = impl_->find_array(key, is_float, "an array of float32");
  std::vector<float> out;
  if (!e) return out;
  out.resize(e->array_size);
  const uint8_t* p = impl_->data + e->pos;
  if (e->array_type == GgufValueType::FLOAT32) {
    if (!out.empty()) std::memcpy(out.data(), p, out.size() * sizeof(float));  // data() may be null
  } else {
    for (size_t i = 0; i < out.size(); ++i) {
      double v = load<double>(p + 8 * i);
      // Narrowing a finite double beyond float's range is undefined behaviour, so refuse it.
      if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max())
        impl_->fail(cat("key ", quote_name(key), " element ", i, " value ", format_double(v), " does not fit float32"));
      out[i] = static_cast<float>(v);
    }
  }
  return out;
}

std::vector<int32_t> GgufFile::get_i32_array(std::string_view key) const {
  return impl_->int_array<int32_t>(key, "int32");
}

std::vector<uint32_t> GgufFile::get_u32_array(std::string_view key) const {
  return impl_->int_array<uint32_t>(key, "uint32");
}

std::vector<bool> GgufFile::get_bool_array(std::string_view key) const {
  auto is_bool = [](GgufValueType t) { return t == GgufValueType::BOOL; };
  const KvEntry* e = impl_->find_array(key, is_bool, "an array of bool");
  std::vector<bool> out;
  if (!e) return out;
  out.reserve(e->array_size);
  for (uint64_t i = 0; i < e->array_size; ++i) out.push_back(impl_->data[e->pos + i] != 0);
  return out;
}

std::string_view GgufFile::require_string(std::string_view key) const {
  if (auto v = get_string(key)) return *v;
  impl_->fail(cat("missing key ", quote_name(key), " (string)"));
}

uint64_t GgufFile::require_uint(std::string_view key) const {
  if (auto v = get_uint(key)) return *v;
  impl_->fail(cat("missing key ", quote_name(key), " (unsigned integer)"));
}

double GgufFile::require_float(std::string_view key) const {
  if (auto v = get_float(key)) return *v;
  impl_->fail(cat("missing key ", quote_name(key), " (number)"));
}

std::string_view GgufFile::architecture() const {
  return get_string("general.architecture").value_or(std::string_view{});
}

std::optional<uint64_t> GgufFile::arch_uint(std::string_view suffix) const {
  auto arch = architecture();
  if (arch.empty()) return std::nullopt;
  return get_uint(cat(arch, ".", suffix));
}

std::optional<double> GgufFile::arch_float(std::string_view suffix) const {
  auto arch = architecture();
  if (arch.empty()) return std::nullopt;
  return get_float(cat(arch, ".", suffix));
}

const std::vector<GgufTensorInfo>& GgufFile::tensors() const { return impl_->tensors; }

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

std::span<const uint8_t> GgufFile::tensor_data(const GgufTensorInfo& t) const {
  // Infos from tensors() were checked at open(); this guards one made up or from another file.
  uint64_t begin = saturating_add(impl_->data_offset, t.offset);
  if (saturating_add(begin, t.bytes) > impl_->size)
    impl_->fail(cat("tensor ", quote_name(t.name), " data [", begin, ", ", saturating_add(begin, t.bytes),
                    ") lies past the end of the file (size ", impl_->size, ")"));
  return {impl_->data + begin, t.bytes};
}

std::vector<GgufFile::MetadataEntry> GgufFile::metadata() const {
  std::vector<MetadataEntry> out;
  out.reserve(impl_->kvs.size());
  for (const KvEntry& e : impl_->kvs) {
    MetadataEntry m{e.key, e.type, e.array_type, e.array_size, {}};
    const uint8_t* p = impl_->data + e.pos;
    switch (e.type) {
      case GgufValueType::ARRAY:
        m.summary = cat("[", e.array_size, " x ", gguf_type_name(e.array_type), "]");
        break;
      case GgufValueType::STRING:
        m.summary = quote_name(std::string_view(reinterpret_cast<const char*>(p + 8), load<uint64_t>(p)), 60);
        break;
      case GgufValueType::BOOL: m.summary = *p ? "true" : "false"; break;
      case GgufValueType::FLOAT32: m.summary = format_float(load<float>(p)); break;
      case GgufValueType::FLOAT64: m.summary = format_double(load<double>(p)); break;
      default: m.summary = int_at(e.type, p).str();
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace vkmoe
