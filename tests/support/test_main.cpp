#define BOOST_TEST_MODULE gradspec
#include <boost/test/unit_test.hpp>
