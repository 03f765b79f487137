/* Ends one instantiation of gemm_ukr_simd.h + gemm_driver.h: undefines every macro the
 * includer defined for it (see gemm_ukr_simd.h), so the next dtype can define its own. */
#undef T
#undef V
#undef L
#undef MR
#undef NR
#undef MC
#undef KC
#undef NC
#undef MASK_T
#undef MASKN
#undef VZERO
#undef VLOAD
#undef VLOADM
#undef VSTORE
#undef VSTOREM
#undef VSET1
#undef VFMA
#undef VMUL
#undef VADD
#undef VACT_OK
#undef ACT_ROWS
#undef FGD_SFX
#undef FGD_FNAME
#undef FGD_PACKB_T_PANEL
#undef FGD_PACKA_N_PANEL
