/* The public header must compile alone as strict C99 (built with
 * -std=c99 -pedantic -Werror). */
#include <daxmap.h>

int main(void)
{
	struct daxmap_range r = { 0, 0 };

	return (int)r.len + (daxmap_errormsg() == 0);
}
