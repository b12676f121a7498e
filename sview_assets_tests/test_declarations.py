"""Outcomes as data: declaration files, the standard English declarations on files in their published layouts,
and the messages every malformed declaration gets (file, line, fix)."""

from pathlib import Path

import pandas as pd
import pytest

from sview_assets.config.declarations import DeclarationError, read_declarations, standard_names
from sview_assets.sources.labels import build_lsoa_labels
from sview_assets.sources.postcodes import read_postcode_locations

DOMAINS = (
    ("Income", "Income Score (rate)"),
    ("Employment", "Employment Score (rate)"),
    ("Education, Skills and Training", "Education, Skills and Training Score"),
    ("Health Deprivation and Disability", "Health Deprivation and Disability Score"),
    ("Crime", "Crime Score"),
    ("Barriers to Housing and Services", "Barriers to Housing and Services Score"),
    ("Living Environment", "Living Environment Score"),
)
# The published File 7 of the IoD 2025: code and name of the 2021 LSOA, its 2024 district, then score, rank and
# decile of the IMD and of each domain (values below are invented).
IOD_2025_HEADER = [
    "LSOA code (2021)",
    "LSOA name (2021)",
    "Local Authority District code (2024)",
    "Local Authority District name (2024)",
    "Index of Multiple Deprivation (IMD) Score",
    "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)",
    "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)",
    *[c for domain, score in DOMAINS for c in (score, f"{domain} Rank (where 1 is most deprived)", f"{domain} Decile (where 1 is most deprived 10% of LSOAs)")],
]
TS037 = [
    "General health: Total: All usual residents",
    "General health: Very good health",
    "General health: Good health",
    "General health: Fair health",
    "General health: Bad health",
    "General health: Very bad health",
]
TS052 = [
    "Occupancy rating for bedrooms: Total: All households",
    "Occupancy rating for bedrooms: Occupancy rating of bedrooms: +2 or more",
    "Occupancy rating for bedrooms: Occupancy rating of bedrooms: +1",
    "Occupancy rating for bedrooms: Occupancy rating of bedrooms: 0",
    "Occupancy rating for bedrooms: Occupancy rating of bedrooms: -1",
    "Occupancy rating for bedrooms: Occupancy rating of bedrooms: -2 or less",
]
TS066 = [
    "Economic activity status: Total: All usual residents aged 16 years and over",
    "Economic activity status: Economically active (excluding full-time students)",
    "Economic activity status: Economically active (excluding full-time students): In employment",
    "Economic activity status: Economically active (excluding full-time students): Unemployed",
    "Economic activity status: Economically active and a full-time student",
    "Economic activity status: Economically active and a full-time student: In employment",
    "Economic activity status: Economically active and a full-time student: Unemployed",
    "Economic activity status: Economically inactive",
]
TS067 = [
    "Highest level of qualification: Total: All usual residents aged 16 years and over",
    "Highest level of qualification: No qualifications",
    "Highest level of qualification: Level 1 and entry level qualifications",
    "Highest level of qualification: Level 2 qualifications",
    "Highest level of qualification: Apprenticeship",
    "Highest level of qualification: Level 3 qualifications",
    "Highest level of qualification: Level 4 qualifications and above",
    "Highest level of qualification: Other qualifications",
]
# The ONS National Statistics Postcode Lookup of 2025, with the img_id column a user adds.
NSPL_2025_HEADER = (
    "pcd7,pcd8,pcds,dointr,doterm,usrtypind,east1m,north1m,gridind,oa21cd,cty25cd,ced25cd,lad25cd,wd25cd,nhser24cd,ctry25cd,rgn25cd,"
    "pcon24cd,ttwa15cd,itl25cd,npark16cd,lsoa21cd,msoa21cd,wz11cd,sicbl24cd,bua24cd,ruc21ind,oac11ind,lat,long,lep21cd1,lep21cd2,"
    "pfa23cd,imd20ind,icb23cd,img_id"
).split(",")

CITY = [f"E0103{3000 + i:04d}" for i in range(1, 21)]
ELSEWHERE = [f"E0103{5000 + i:04d}" for i in range(1, 6)]


def write_2021_city(raw: Path) -> None:
    """20 city LSOAs (2021 codes) and 5 from elsewhere in the national files; LSOA ``i`` (1-based) has income rank 100 i,
    a bad-health share rising with ``i``, and a heading-complete location each, in the NSPL 2025 layout."""
    raw.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, code in enumerate(CITY + ELSEWHERE, start=1):
        row = {c: "0" for c in IOD_2025_HEADER}
        row.update({"LSOA code (2021)": code, "LSOA name (2021)": f"Place {i:03d}A", "Local Authority District code (2024)": "E08000035"})
        row["Local Authority District name (2024)"] = "Leeds"
        for number, (domain, _) in enumerate(DOMAINS):
            row[f"{domain} Rank (where 1 is most deprived)"] = f"{100 * i + number:,}" if i <= 20 else str(5 + i)
        rows.append(row)
    pd.DataFrame(rows, columns=IOD_2025_HEADER).to_csv(raw / "File_7_IoD2025_All_Ranks_Scores_Deciles_Population_Denominators.csv", index=False)

    def topic(columns, counts):
        frame = pd.DataFrame([[2021, f"Place {i:03d}A", code, *counts(i)] for i, code in enumerate(CITY, start=1)])
        frame.columns = ["date", "geography", "geography code", *columns]
        return frame

    topic(TS037, lambda i: [1000, 500, 300, 200 - 5 * i, 4 * i, i]).to_csv(raw / "census2021-ts037-lsoa.csv", index=False)
    topic(TS052, lambda i: [400, 100, 100, 200 - 2 * i, i, i]).to_csv(raw / "census2021-ts052-lsoa.csv", index=False)
    topic(TS066, lambda i: [800, 500, 480, 20 + (20 - i), 40, 38, 2, 260]).to_csv(raw / "census2021-ts066-lsoa.csv", index=False)
    topic(TS067, lambda i: [900, 100 + i, 50, 150, 50, 150, 300 - i, 100]).to_csv(raw / "census2021-ts067-lsoa.csv", index=False)
    directory = []
    for i, code in enumerate(CITY):
        row = dict.fromkeys(NSPL_2025_HEADER, "")
        row.update({"pcds": f"LS{i + 1} 1AA", "oa21cd": f"E00{170000 + i}", "lsoa21cd": code, "msoa21cd": "E02006875"})
        row.update({"lat": str(53.8 + i / 1000), "long": str(-1.55), "img_id": str(i)})
        directory.append(row)
    directory.append({**row, "pcds": "LS99 9ZZ", "img_id": ""})
    pd.DataFrame(directory, columns=NSPL_2025_HEADER).to_csv(raw / "postcode_directory.csv", index=False)


def test_iod_2025_census_2021_and_a_2021_postcode_lookup_give_the_hand_computed_deciles(tmp_path):
    raw = tmp_path / "leeds" / "raw"
    write_2021_city(raw)
    (tmp_path / "leeds" / "outcomes.toml").write_text('standard = ["iod_2025", "census_2021"]\n')
    declarations = read_declarations(tmp_path / "leeds" / "outcomes.toml")
    locations = read_postcode_locations(raw / "postcode_directory.csv", declarations.area_column)
    assert locations.area_column == "lsoa21cd" and locations.rows_without_image == 1
    assert locations.locations["lsoa11"].tolist() == CITY and locations.locations.loc[0, ["pcd", "oa11", "msoa11"]].tolist() == [
        "LS1 1AA",
        "E00170000",
        "E02006875",
    ]
    build = build_lsoa_labels(declarations, raw, locations.locations["lsoa11"].tolist())
    assert build.outcomes == list(declarations.keys) and len(build.outcomes) == 11 and not build.outcomes_not_built
    deciles = build.labels.pivot(index="lsoa11", columns="outcome", values="decile").loc[CITY]
    rising = [(i + 2) // 2 for i in range(20)]  # LSOA 1 and 2 in decile 1, ..., 19 and 20 in decile 10
    # A low rank is deprived, so income follows the order; a high share is deprived, so bad health runs the other way.
    assert deciles["income"].tolist() == rising and deciles["living_environment"].tolist() == rising
    assert deciles["bad_health"].tolist() == rising[::-1] and deciles["overcrowding"].tolist() == rising[::-1]
    assert deciles["unemployment"].tolist() == rising and deciles["low_qualifications"].tolist() == rising[::-1]
    values = build.labels.set_index(["outcome", "lsoa11"])["raw_value"]
    assert values[("bad_health", CITY[0])] == pytest.approx(5 / 1000) and values[("overcrowding", CITY[19])] == pytest.approx(40 / 400)
    assert values[("unemployment", CITY[0])] == pytest.approx((39 + 2) / 800) and values[("income", CITY[19])] == 2000
    assert set(build.labels["lsoa11"]) == set(CITY), "LSOAs of the national file outside the city are not labelled"


def test_a_city_of_its_own_declares_its_outcomes_and_has_exactly_those(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "acs.csv").write_text(
        "GEOID,B19013_001E,B17001_001E,B17001_002E\n" + "".join(f"170318{i:05d},{30000 + 1000 * i},1000,{10 * i}\n" for i in range(20))
    )
    (tmp_path / "outcomes.toml").write_text(ACS_DECLARATION)
    declarations = read_declarations(tmp_path / "outcomes.toml")
    assert declarations.keys == ("median_income", "poverty") and declarations.outcome("poverty").title == "Below the poverty level"
    build = build_lsoa_labels(declarations, tmp_path / "raw", [f"170318{i:05d}" for i in range(20)])
    deciles = build.labels.pivot(index="lsoa11", columns="outcome", values="decile")
    assert deciles["median_income"].tolist() == [(i + 2) // 2 for i in range(20)]
    assert deciles["poverty"].tolist() == [10 - i // 2 for i in range(20)]


def test_every_standard_declaration_reads(tmp_path):
    assert set(standard_names()) >= {"iod_2015", "iod_2019", "iod_2025", "census_2011", "census_2021", "london_income_2012_13"}
    for name in standard_names():
        (tmp_path / "outcomes.toml").write_text(f'standard = ["{name}"]\n')
        assert read_declarations(tmp_path / "outcomes.toml").outcomes


def test_without_a_declaration_file_a_city_gets_the_english_2011_sources(tmp_path):
    declarations = read_declarations(tmp_path / "outcomes.toml")
    assert not declarations.from_file and declarations.standards == ("iod_2015", "census_2011", "london_income_2012_13")
    assert all(s.optional for s in declarations.sources) and len(declarations.keys) == 13


ACS_DECLARATION = """\
# A US city: median household income and poverty by tract.

[[source]]
name = "acs"
file = "acs.csv"
area_column = "GEOID"

[[outcome]]
key = "median_income"
source = "acs"
value = "B19013_001E"
most_deprived = "low"

[[outcome]]
key = "poverty"
title = "Below the poverty level"
source = "acs"
numerators = ["B17001_002E"]
denominator = "B17001_001E"
most_deprived = "high"
"""
ACS_CSV = "GEOID,B19013_001E,B17001_001E,B17001_002E\n17031810100,41000,1200,300\n17031810200,52000,900,90\n"


@pytest.mark.parametrize(
    "declaration, csv, expected",
    [
        (ACS_DECLARATION, None, r"outcomes.toml, line 3: source 'acs' reads .*acs.csv, which does not exist\. Put the file there"),
        (
            ACS_DECLARATION,
            ACS_CSV.replace("B19013_001E", "B19013_001"),
            r"line 8: outcome 'median_income': column\(s\) 'B19013_001E' not in .*acs.csv\. Fix the column name",
        ),
        (ACS_DECLARATION, ACS_CSV.replace("52000", "n/a"), r"line 8: outcome 'median_income': .*acs.csv: column 'B19013_001E', line 3: 'n/a' is not a number"),
        (
            ACS_DECLARATION + '\n[[outcome]]\nkey = "poverty"\nsource = "acs"\nvalue = "B17001_002E"\nmost_deprived = "high"\n',
            ACS_CSV,
            r"line 22: outcome key 'poverty' is used twice \(first at .*line 14\)\. Rename one",
        ),
        (
            'standard = ["iod_2015"]\n' + ACS_DECLARATION.replace('key = "median_income"', 'key = "income"'),
            ACS_CSV,
            r"line 9: outcome key 'income' is used twice \(first at .*line 1 \(standard declaration 'iod_2015'\)\)",
        ),
        ('standard = ["iod_2031"]\n', None, r"line 1: unknown standard declaration 'iod_2031'\. Known: census_2011, census_2021, iod_2015"),
        (ACS_DECLARATION.replace('"high"', '"worst"'), ACS_CSV, r"line 20: most_deprived = 'worst'; write \"low\""),
        (
            ACS_DECLARATION.replace('value = "B19013_001E"', 'value = "B19013_001E"\ncolour = "red"'),
            ACS_CSV,
            r"line 12: unknown key 'colour' in \[outcome\]\. Allowed: denominator",
        ),
        (
            ACS_DECLARATION.replace('source = "acs"\nvalue', 'source = "acz"\nvalue'),
            ACS_CSV,
            r"line 8: outcome 'median_income' names source 'acz', which is not declared",
        ),
        (
            ACS_DECLARATION.replace('value = "B19013_001E"', 'value = "B19013_001E"\nnumerators = ["x"]'),
            ACS_CSV,
            r"line 8: outcome 'median_income' needs either `value",
        ),
        (ACS_DECLARATION.replace('name = "acs"', 'name = "acs'), ACS_CSV, r"outcomes.toml: not valid TOML \(.*line 4.*\)\. Check the quoting"),
        (ACS_DECLARATION.replace('key = "poverty"', 'key = "Poverty rate"'), ACS_CSV, r"line 15: outcome key 'Poverty rate' must be lower-case"),
        ('[files]\nnosuch = "x.csv"\n' + ACS_DECLARATION, ACS_CSV, r"line 2: \[files\] names source 'nosuch', which is not declared"),
    ],
    ids=[
        "missing file",
        "missing column",
        "not numeric",
        "key twice",
        "key of a standard",
        "unknown standard",
        "bad direction",
        "unknown key",
        "undeclared source",
        "value and share",
        "bad toml",
        "bad key",
        "files of nothing",
    ],
)
def test_each_malformed_declaration_names_the_file_the_line_and_the_fix(tmp_path, declaration, csv, expected):
    (tmp_path / "raw").mkdir()
    if csv is not None:
        (tmp_path / "raw" / "acs.csv").write_text(csv)
    (tmp_path / "outcomes.toml").write_text(declaration)
    with pytest.raises(DeclarationError, match=expected) as error:
        build_lsoa_labels(read_declarations(tmp_path / "outcomes.toml"), tmp_path / "raw", ["17031810100", "17031810200"])
    assert str(tmp_path / "outcomes.toml") in str(error.value)


def test_a_declaration_that_is_not_utf8_names_its_line(tmp_path):
    (tmp_path / "outcomes.toml").write_bytes('standard = ["iod_2015"]\n# caf\u00e9\n'.encode("latin-1"))
    with pytest.raises(DeclarationError, match=r"outcomes.toml, line 2: not UTF-8 text\. Save the file as UTF-8"):
        read_declarations(tmp_path / "outcomes.toml")


def test_a_directory_with_2011_and_2021_codes_asks_which_and_follows_the_answer(tmp_path):
    path = tmp_path / "directory.csv"
    path.write_text("pcd,oa11,lsoa11,msoa11,oa21,lsoa21,msoa21,lat,long,img_id\nLS1 1AA,E00001,E01011111,E02001,E00002,E01033333,E02002,53.8,-1.5,4\n")
    with pytest.raises(ValueError, match=r"several area-code columns \(lsoa21, lsoa11\).*\[locations\] area_column"):
        read_postcode_locations(path)
    chosen = read_postcode_locations(path, "lsoa21").locations
    assert chosen.loc[0, ["oa11", "lsoa11", "msoa11"]].tolist() == ["E00002", "E01033333", "E02002"]
    assert read_postcode_locations(path, "lsoa11").locations.loc[0, "lsoa11"] == "E01011111"
    (tmp_path / "outcomes.toml").write_text('standard = ["iod_2025"]\n\n[locations]\narea_column = "lsoa21"\n')
    assert read_declarations(tmp_path / "outcomes.toml").area_column == "lsoa21"


@pytest.mark.slow
def test_a_city_whose_only_outcomes_are_its_own_declarations_trains_them(city_copy, random_vgg16):
    """The built tiny city relabelled by a tract-style table of its own: labels, training set and a model of each."""
    from sview_assets.sql import connect

    from .helpers import definitions_for_city

    settings, instance = city_copy
    areas = sorted(pd.read_csv(settings.paths.raw / "postcode_directory.csv")["lsoa11"].unique())
    table = pd.DataFrame({"GEOID": areas, "B19013_001E": [30000 + 1500 * i for i in range(len(areas))], "B17001_001E": 1000})
    table["B17001_002E"] = [400 - 15 * i for i in range(len(areas))]
    table.to_csv(settings.paths.raw / "acs.csv", index=False)
    (settings.paths.root / "outcomes.toml").write_text(ACS_DECLARATION)
    defs = definitions_for_city(settings, random_vgg16)
    for job in ("copy__labels_job", "copy__training_set_job"):
        assert defs.resolve_job_def(job).execute_in_process(instance=instance).success
    assert sorted(instance.get_dynamic_partitions("copy__outcome")) == ["median_income", "poverty"]
    config = {"ops": {"copy__ordinal_model": {"config": {"epochs": 1, "batch_size": 16, "patience": 1, "folds": 2}}}}
    for outcome in ("median_income", "poverty"):
        result = defs.resolve_job_def("copy__retrain_outcome").execute_in_process(instance=instance, partition_key=outcome, run_config=config)
        assert result.success
    with connect(settings) as connection:
        metrics = connection.execute(
            "SELECT outcome, count(*), min(n_lsoas) FROM model_metrics WHERE outcome IN ('median_income', 'poverty') GROUP BY outcome ORDER BY outcome"
        ).fetchall()
        labelled = connection.execute("SELECT DISTINCT outcome, source FROM lsoa_labels ORDER BY 1").fetchall()
    assert metrics == [("median_income", 2, len(areas)), ("poverty", 2, len(areas))]
    assert labelled == [("median_income", "acs"), ("poverty", "acs")]
