// Which dtypes hold a decimal value exactly (the `exact_in` list of a case).
#pragma once

#include <string>
#include <vector>

namespace gradspec::cases {

// The dtypes of the contract, narrowest first.
const std::vector<std::string>& dtype_names();

// True when the decimal text denotes a value that `dtype` represents exactly (inf and nan count as
// exact; "0.1" is exact in none). Subnormals count. Throws std::invalid_argument for unknown dtypes.
bool exactly_representable(const std::string& decimal_text, const std::string& dtype);

} // namespace gradspec::cases
