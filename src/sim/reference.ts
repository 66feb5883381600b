/**
 * CloudSim 3.0.3's figures on the PlanetLab days in ../shared/data/planetlab (issue 6):
 * energy kWh, migrations, SLATAH (fraction), SLAV, ESV.
 */
export interface ReferenceFigures {
  readonly energyKWh: number;
  readonly migrations: number;
  readonly slatah: number;
  readonly slav: number;
  readonly esv: number;
}

export const REFERENCE_NPA_KWH = 2410.8;

export const REFERENCE: Readonly<Record<string, { readonly dvfs: number; readonly policies: Readonly<Record<string, ReferenceFigures>> }>> = {
  '20110303': {
    dvfs: 802.75,
    policies: {
      'thr-mmt-0.8': { energyKWh: 192.62, migrations: 26711, slatah: 0.0491, slav: 3.18e-5, esv: 6.13e-3 },
      'iqr-mmt-1.5': { energyKWh: 189.98, migrations: 26282, slatah: 0.0482, slav: 3.01e-5, esv: 5.72e-3 },
      'mad-mmt-2.5': { energyKWh: 185.79, migrations: 26556, slatah: 0.0505, slav: 3.34e-5, esv: 6.21e-3 },
      'lr-mmt-1.2': { energyKWh: 163.48, migrations: 27859, slatah: 0.0586, slav: 4.64e-5, esv: 7.59e-3 },
    },
  },
  '20110306': {
    dvfs: 625.53,
    policies: {
      'thr-mmt-0.8': { energyKWh: 144.74, migrations: 20908, slatah: 0.0513, slav: 3.6e-5, esv: 5.21e-3 },
      'iqr-mmt-1.5': { energyKWh: 143.97, migrations: 20742, slatah: 0.0504, slav: 3.37e-5, esv: 4.85e-3 },
      'mad-mmt-2.5': { energyKWh: 140.07, migrations: 20682, slatah: 0.052, slav: 3.74e-5, esv: 5.24e-3 },
      'lr-mmt-1.2': { energyKWh: 123.28, migrations: 20878, slatah: 0.0588, slav: 4.62e-5, esv: 5.7e-3 },
    },
  },
  '20110309': {
    dvfs: 704.93,
    policies: {
      'thr-mmt-0.8': { energyKWh: 165.27, migrations: 23475, slatah: 0.0526, slav: 4.05e-5, esv: 6.69e-3 },
      'iqr-mmt-1.5': { energyKWh: 166.75, migrations: 23772, slatah: 0.0525, slav: 3.88e-5, esv: 6.47e-3 },
      'mad-mmt-2.5': { energyKWh: 163.01, migrations: 23476, slatah: 0.0525, slav: 3.91e-5, esv: 6.37e-3 },
      'lr-mmt-1.2': { energyKWh: 142.09, migrations: 24959, slatah: 0.0655, slav: 6.02e-5, esv: 8.55e-3 },
    },
  },
};

/** Targets for our urbanizer on a referenced day: ESV ≤ 0.8 × best, energy ≤ LR-MMT-1.2, fewer migrations than any. @example urbanizerTargets('20110303')?.maxEnergyKWh // 163.48 */
export function urbanizerTargets(day: string): { maxEsv: number; maxEnergyKWh: number; maxMigrations: number } | undefined {
  const r = REFERENCE[day];
  if (!r) return undefined;
  const ps = Object.values(r.policies);
  return {
    maxEsv: 0.8 * Math.min(...ps.map((p) => p.esv)),
    maxEnergyKWh: r.policies['lr-mmt-1.2']?.energyKWh ?? Infinity,
    maxMigrations: Math.min(...ps.map((p) => p.migrations)) - 1,
  };
}
