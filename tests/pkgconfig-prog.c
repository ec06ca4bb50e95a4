/* A user's program: built with $(pkg-config --cflags --libs daxmap). */
#include <daxmap.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	static const char msg[] = "persisted through pkg-config";
	struct daxmap_dev *dev;
	struct daxmap_map *map;

	if (argc != 2 || daxmap_dev_open(&dev, argv[1], 0, 0) < 0 ||
	    daxmap_map_new(&map, dev, 0, daxmap_dev_size(dev), 0) < 0) {
		fprintf(stderr, "%s\n", daxmap_errormsg());
		return 1;
	}
	daxmap_map_memcpy(map, daxmap_map_addr(map), msg, sizeof(msg), 0);
	daxmap_map_delete(&map);
	daxmap_dev_close(dev);
	return 0;
}
