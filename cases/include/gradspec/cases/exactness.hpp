// Which dtypes hold a decimal value exactly (the `exact_in` list of a case).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gradspec::cases {

// The dtypes of the contract, narrowest first.
const std::vector<std::string>& dtype_names();

// True when the decimal text denotes a value that `dtype` represents exactly (inf and nan count as
// exact; "0.1" is exact in none). Subnormals count. Throws std::invalid_argument for unknown dtypes.
bool exactly_representable(const std::string& decimal_text, const std::string& dtype);

// The same for every dtype of dtype_names() at once: bit k set when dtype_names()[k] holds the value.
// Plain decimals of at most 19 significant digits (every value gen writes as an input) are decided
// in integer arithmetic; anything else through MPFR.
unsigned exact_dtype_mask(std::string_view decimal_text);
inline constexpr unsigned all_dtypes_mask = 0xf;

} // namespace gradspec::cases
