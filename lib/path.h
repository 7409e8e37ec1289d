/*
 * path.h - questions about file-system paths, answered from the file
 * system itself (symbolic links resolved), never from their spelling.
 */
#ifndef HS_PATH_H
#define HS_PATH_H

/*
 * 1 when path (which need not exist yet) lies inside directory root
 * (which must exist), after resolving symbolic links of the parts that
 * exist; 0 when not or when root cannot be resolved.
 */
int hs_path_under(const char *path, const char *root);

#endif
