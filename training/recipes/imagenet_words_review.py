"""The hand review of the ImageNet word table (training/recipes/imagenet_words.py): which WordNet
ancestors are words people search for, which never are, and the rows, extra words and dropped
words fixed by reading all 1000 classes."""

# Ancestor synset (offset) → the words a person would search for it by; nearest ancestor first.
HYPERNYM_WORDS: dict[str, str] = {
    # animals
    "00015388": "animal",
    "02084071": "dog, pet",  # dog, domestic dog (wild dogs and wolves are not under it)
    "02121808": "cat, pet",  # domestic cat
    "02114100": "wolf",
    "02118333": "fox",
    "02131653": "bear",
    "02127808": "wildlife",  # big cat ("big cat" would make lions match "cat")
    "02124623": "wildcat, wildlife",
    "01503061": "bird",
    "01604330": "bird of prey",
    "01816887": "parrot",
    "01846331": "duck",
    "02055803": "penguin",
    "02008041": "heron",
    "02021795": "seabird",
    "01845132": "waterbird",
    "02512053": "fish",
    "01482330": "shark",
    "01661091": "reptile",
    "01726692": "snake",
    "01674464": "lizard",
    "01662784": "turtle",
    "01627424": "amphibian",
    "01639765": "frog",
    "01629276": "salamander",
    "02159955": "insect, bug",
    "02164464": "beetle",
    "02274259": "butterfly",
    "01772222": "spider",
    "01769347": "arachnid",
    "01976957": "crab, seafood",
    "01982650": "lobster, seafood",
    "01974773": "crustacean",
    "01940736": "mollusk",
    "02469914": "primate",
    "02484322": "monkey",
    "02470325": "ape",
    "02062744": "whale",
    "02068974": "dolphin",
    "02076196": "seal",
    "02374451": "horse",
    "02402425": "cattle, cow",
    "02411705": "sheep",
    "02416519": "goat",
    "02395003": "pig",
    "02419796": "antelope",
    "02503517": "elephant",
    "02355227": "squirrel",
    "02324045": "rabbit",
    "02329401": "rodent",
    "01874434": "marsupial",
    "01861778": "mammal",
    # plants and food
    "07705931": "fruit, food",  # edible fruit
    "07707451": "vegetable, food",
    "07557434": "dish, food",
    "07679356": "bread, food",
    "07609840": "dessert, food",
    "07622061": "baked goods, food",
    "07555863": "food",
    "00021265": "food",
    "07881800": "drink",
    "07884567": "alcohol, drink",
    "12992868": "fungus",
    "11669921": "flower",
    # vehicles
    "02958343": "car",
    "04490091": "truck",
    "02924116": "bus",
    "04520170": "van",
    "03790512": "motorcycle",
    "02834778": "bicycle, bike",
    "04468005": "train",
    "02691156": "airplane, plane",
    "02686568": "aircraft",
    "04128499": "sailboat, boat",
    "04194289": "ship, boat",
    "02858304": "boat",
    "04530566": "boat",
    "04524313": "vehicle",
    # furniture and the house
    "03001627": "chair",
    "04161981": "seat",
    "02818832": "bed",
    "04379964": "table",
    "02933112": "cabinet",
    "03405725": "furniture",
    "03636248": "lamp",
    "03620052": "kitchen appliance, kitchen",
    "03528263": "appliance",
    "03621049": "kitchen",
    "03101986": "cookware, kitchen",
    "04381994": "tableware",
    "03046257": "clock",
    # clothing
    "04199027": "shoe",
    "03380867": "footwear",
    "03497657": "hat",
    "02954340": "cap, hat",
    "04370048": "sweater",
    "04371563": "swimsuit",
    "03057021": "coat",
    "04230808": "skirt",
    "03815615": "tie",
    "03051540": "clothing, clothes",
    # things
    "03800933": "musical instrument, music",
    "03467517": "guitar",
    "03985232": "laptop, computer",
    "03082979": "computer",
    "04401088": "phone",
    "03278248": "electronics",
    "04451818": "tool",
    "03623556": "knife",
    "02876657": "bottle",
    "02883344": "box",
    "02773037": "bag",
    "03593526": "jar",
    "03438257": "glass",
    "03797390": "mug, cup",
    "03990474": "pot",
    "02778669": "ball",
    "04285146": "sports",
    "03467984": "gun, weapon",
    "04565375": "weapon",
    "03513376": "helmet",
    "04118021": "rug, carpet",
    # buildings and places
    "03259505": "house, home",
    "04202417": "shop, store",
    "02898711": "bridge",
    "04460130": "tower",
    "03743902": "monument",
    "02913152": "building",
    "09287968": "landscape, nature",  # geological formation
    # people
    "00007846": "person, people",
}

# Never search words, wherever they come from (lowercase).
STOP_WORDS = frozenset(
    {
        *("entity", "physical entity", "object", "physical object", "whole", "unit", "thing"),
        *("artifact", "artefact", "instrumentality", "instrumentation", "device", "covering"),
        *("conveyance", "transport", "commodity", "consumer goods", "durables", "ware", "article"),
        *("matter", "substance", "solid", "structure", "construction", "equipment", "implement"),
        *("container", "mechanism", "apparatus", "restraint", "support", "system", "part"),
        *("portion", "piece", "abstraction", "causal agent", "natural object", "machine"),
        *("organism", "being", "living thing", "animate thing", "chordate", "vertebrate"),
        *("craniate", "invertebrate", "placental", "placental mammal", "eutherian"),
    }
)

# Hand review. wnid → "display name: word, word, …" replacing the generated row.
OVERRIDES: dict[str, str] = {
    "n02096585": "Boston terrier: Boston terrier, Boston bull, terrier, dog, pet, mammal, animal",
    "n01496331": "electric ray: electric ray, torpedo, ray, fish, animal",
    "n01514668": "cock: cock, rooster, chicken, bird, animal",
    "n01514859": "hen: hen, chicken, bird, animal",
    "n01871265": "tusker: tusker, elephant, mammal, animal",
    "n01955084": "chiton: chiton, mollusk, animal",
    "n02114855": "coyote: coyote, prairie wolf, wildlife, mammal, animal",
    "n02115641": "dingo: dingo, wild dog, wildlife, mammal, animal",
    "n02115913": "dhole: dhole, wild dog, wildlife, mammal, animal",
    "n02116738": "African hunting dog: African hunting dog, African wild dog, wild dog, wildlife, mammal, animal",
    "n02125311": "cougar: cougar, puma, mountain lion, wildcat, wildlife, mammal, animal",
    "n02127052": "lynx: lynx, bobcat, wildcat, wildlife, mammal, animal",
    "n02128757": "snow leopard: snow leopard, leopard, wildlife, mammal, animal",
    "n02129165": "lion: lion, wildlife, mammal, animal",
    "n02130308": "cheetah: cheetah, wildlife, mammal, animal",
    "n02132136": "brown bear: brown bear, grizzly, bear, wildlife, mammal, animal",
    "n02219486": "ant: ant, insect, bug, animal",
    "n02268443": "dragonfly: dragonfly, insect, bug, animal",
    "n02346627": "porcupine: porcupine, rodent, mammal, animal",
    "n02395406": "hog: hog, pig, swine, farm animal, mammal, animal",
    "n02415577": "bighorn: bighorn, bighorn sheep, sheep, wildlife, mammal, animal",
    "n02443114": "polecat: polecat, ferret, mammal, animal",
    "n02445715": "skunk: skunk, mammal, animal",
    "n02480495": "orangutan: orangutan, ape, primate, mammal, animal",
    "n02486261": "patas: patas, monkey, primate, mammal, animal",
    "n02492035": "capuchin: capuchin, monkey, primate, mammal, animal",
    "n02497673": "ring-tailed lemur: ring-tailed lemur, lemur, primate, mammal, animal",
    "n02500267": "indri: indri, lemur, primate, mammal, animal",
    "n02514041": "barracouta: barracouta, barracuda, fish, animal",
    "n02606052": "rock beauty: rock beauty, angelfish, fish, animal",
    "n02669723": "academic gown: academic gown, graduation, gown, robe, clothing, clothes",
    "n02672831": "accordion: accordion, musical instrument, music",
    "n02687172": "aircraft carrier: aircraft carrier, warship, ship, boat, vehicle",
    "n02704792": "amphibious vehicle: amphibious vehicle, vehicle",
    "n02727426": "apiary: apiary, beehive, bee, hive",
    "n02747177": "trash can: trash can, garbage can, bin, ashcan",
    "n02782093": "balloon: balloon, hot-air balloon, aircraft",
    "n02786058": "Band-Aid: Band-Aid, bandage, plaster",
    "n02797295": "wheelbarrow: wheelbarrow, barrow, garden, cart",
    "n02814533": "station wagon: station wagon, estate car, car, vehicle",
    "n02814860": "lighthouse: lighthouse, beacon, tower",
    "n02825657": "bell cote: bell cote, bell tower, church",
    "n02860847": "bobsled: bobsled, sled, winter sports, sports",
    "n02877765": "bottle cap: bottle cap, bottle",
    "n02879718": "bow: bow, archery, weapon",
    "n02892201": "plaque: plaque, memorial, monument",
    "n02892767": "bra: bra, brassiere, underwear, clothing",
    "n02894605": "breakwater: breakwater, pier, sea",
    "n02895154": "breastplate: breastplate, armor",
    "n02917067": "bullet train: bullet train, high-speed train, train, vehicle",
    "n02930766": "taxi: taxi, cab, car, vehicle",
    "n02948072": "candle: candle, candlelight",
    "n02966687": "tool kit: tool kit, carpenter's kit, tools, tool",
    "n02977058": "ATM: ATM, cash machine, automated teller machine",
    "n02992529": "cell phone: cell phone, mobile phone, smartphone, phone, electronics",
    "n03000247": "chain mail: chain mail, armor",
    "n03016953": "chest of drawers: chest of drawers, dresser, chiffonier, furniture",
    "n03017168": "chime: chime, bell, musical instrument, music",
    "n03042490": "cliff dwelling: cliff dwelling, ruins, cliff",
    "n03047690": "clog: clog, shoe, footwear",
    "n03089624": "candy store: candy store, confectionery, candy, sweets, shop, store",
    "n03109150": "corkscrew: corkscrew, bottle opener, tool",
    "n03110669": "cornet: cornet, trumpet, musical instrument, music",
    "n03126707": "crane: crane, construction site",
    "n03131574": "crib: crib, baby, furniture",
    "n03133878": "slow cooker: slow cooker, Crock Pot, cookware, kitchen",
    "n03160309": "dam: dam, reservoir",
    "n03188531": "diaper: diaper, nappy, baby",
    "n03201208": "dining table: dining table, table, furniture",
    "n03216828": "dock: dock, harbor, pier",
    "n03240683": "oil rig: oil rig, drilling platform, offshore rig",
    "n03249569": "drum: drum, musical instrument, music",
    "n03259280": "Dutch oven: Dutch oven, pot, cookware, kitchen",
    "n03271574": "electric fan: electric fan, fan",
    "n03297495": "espresso maker: espresso maker, coffee machine, coffee, kitchen appliance, kitchen, appliance",
    "n03314780": "face powder: face powder, makeup",
    "n03337140": "filing cabinet: filing cabinet, file cabinet, cabinet, furniture",
    "n03393912": "freight car: freight car, train, railway",
    "n03417042": "garbage truck: garbage truck, truck, vehicle",
    "n03447721": "gong: gong, musical instrument, music",
    "n03452741": "grand piano: grand piano, piano, musical instrument, music",
    "n03457902": "greenhouse: greenhouse, glasshouse, building",
    "n03461385": "grocery store: grocery store, grocery, supermarket, shop, store, food",
    "n03476684": "hair clip: hair clip, hair slide",
    "n03483316": "hair dryer: hair dryer, blow dryer, dryer",
    "n03485407": "handheld computer: handheld computer, PDA, computer, electronics",
    "n03494278": "harmonica: harmonica, mouth organ, musical instrument, music",
    "n03496892": "harvester: harvester, combine harvester, farm machinery",
    "n03529860": "home theater: home theater, TV, television, living room",
    "n03532672": "hook: hook",
    "n03590841": "jack-o'-lantern: jack-o'-lantern, pumpkin, Halloween, lantern",
    "n03594734": "jeans: jeans, denim, clothing, clothes",
    "n03594945": "jeep: jeep, car, vehicle",
    "n03595614": "T-shirt: T-shirt, jersey, tee shirt, shirt, clothing, clothes",
    "n03599486": "rickshaw: rickshaw, jinrikisha, vehicle",
    "n03637318": "lampshade: lampshade, lamp",
    "n03666591": "lighter: lighter, cigarette lighter, fire",
    "n03676483": "lipstick: lipstick, makeup",
    "n03680355": "loafer: loafer, shoe, footwear",
    "n03692522": "loupe: loupe, magnifying glass",
    "n03710637": "maillot: maillot, swimsuit, leotard, clothing, clothes",
    "n03710721": "tank suit: tank suit, maillot, swimsuit, clothing, clothes",
    "n03729826": "matchstick: matchstick, match",
    "n03743016": "megalith: megalith, standing stone, monument",
    "n03759954": "microphone: microphone, mic",
    "n03770679": "minivan: minivan, van, car, vehicle",
    "n03773504": "missile: missile, rocket, weapon",
    "n03776460": "mobile home: mobile home, trailer, caravan, vehicle",
    "n03781244": "monastery: monastery, building",
    "n03782006": "monitor: monitor, computer screen, screen, computer, electronics",
    "n03785016": "moped: moped, scooter, motorcycle, vehicle",
    "n03786901": "mortar: mortar, pestle, kitchen",
    "n03787032": "mortarboard: mortarboard, graduation, cap, hat",
    "n03792782": "mountain bike: mountain bike, bicycle, bike, vehicle",
    "n03793489": "computer mouse: computer mouse, mouse, computer, electronics",
    "n03825788": "nipple: nipple, baby bottle, bottle",
    "n03832673": "notebook computer: notebook computer, laptop, computer, electronics",
    "n03838899": "oboe: oboe, musical instrument, music",
    "n03840681": "ocarina: ocarina, musical instrument, music",
    "n03841143": "odometer: odometer, mileometer, speedometer, car",
    "n03857828": "oscilloscope: oscilloscope, electronics",
    "n03873416": "paddle: paddle, boat paddle, canoe, oar",
    "n03877472": "pajamas: pajamas, pyjamas, clothing, clothes",
    "n03877845": "palace: palace, building",
    "n03884397": "panpipe: panpipe, pan flute, musical instrument, music",
    "n03895866": "passenger car: passenger car, railway carriage, train, vehicle",
    "n03902125": "pay phone: pay phone, payphone, telephone box, phone",
    "n03903868": "pedestal: pedestal, plinth",
    "n03916031": "perfume: perfume, fragrance",
    "n03920288": "Petri dish: Petri dish, laboratory",
    "n03929660": "guitar pick: guitar pick, plectrum, pick, guitar",
    "n03929855": "pickelhaube: pickelhaube, helmet",
    "n03930313": "picket fence: picket fence, fence",
    "n03935335": "piggy bank: piggy bank, money box",
    "n03947888": "pirate ship: pirate ship, ship, boat, vehicle",
    "n03950228": "pitcher: pitcher, jug, ewer",
    "n03954731": "plane: plane, hand plane, woodworking, tool",
    "n03961711": "plate rack: plate rack, dish rack, kitchen",
    "n03967562": "plow: plow, plough, farm",
    "n03970156": "plunger: plunger, plumber's helper, tool",
    "n03976467": "Polaroid camera: Polaroid camera, instant camera, camera",
    "n03977966": "police van: police van, police, van, vehicle",
    "n03982430": "pool table: pool table, billiard table, billiards, snooker, table",
    "n03983396": "soda bottle: soda bottle, pop bottle, bottle, drink",
    "n03991062": "flowerpot: flowerpot, pot, plant",
    "n03992509": "potter's wheel: potter's wheel, pottery, wheel",
    "n03995372": "power drill: power drill, drill, tool",
    "n03998194": "prayer rug: prayer rug, prayer mat, rug, carpet",
    "n04004767": "printer: printer, computer, electronics",
    "n04005630": "prison: prison, jail",
    "n04008634": "projectile: projectile, missile, rocket, weapon",
    "n04019541": "hockey puck: hockey puck, puck, ice hockey, sports",
    "n04023962": "punching bag: punching bag, boxing, gym",
    "n04026417": "purse: purse, handbag, bag",
    "n04033995": "quilt: quilt, comforter, duvet, bedding",
    "n04037443": "race car: race car, racing car, racer, car, vehicle",
    "n04039381": "racket: racket, racquet, tennis, sports",
    "n04044716": "radio telescope: radio telescope, telescope, satellite dish",
    "n04065272": "RV: RV, recreational vehicle, camper, vehicle",
    "n04067472": "reel: reel, fishing reel, fishing",
    "n04069434": "reflex camera: reflex camera, SLR, camera",
    "n04070727": "refrigerator: refrigerator, fridge, appliance, kitchen",
    "n04074963": "remote control: remote control, remote, TV",
    "n04081281": "restaurant: restaurant, dining, building",
    "n04086273": "revolver: revolver, pistol, gun, weapon",
    "n04099969": "rocking chair: rocking chair, rocker, chair, furniture",
    "n04116512": "eraser: eraser, rubber eraser",
    "n04118776": "ruler: ruler, rule",
    "n04125021": "safe: safe, strongbox",
    "n04131690": "salt shaker: salt shaker, saltshaker, shaker, kitchen",
    "n04136333": "sarong: sarong, clothing, clothes",
    "n04141076": "saxophone: saxophone, sax, musical instrument, music",
    "n04141327": "scabbard: scabbard, sheath, sword",
    "n04141975": "scale: scale, weighing scale, weighing machine",
    "n04152593": "screen: screen, monitor, CRT screen, computer, electronics",
    "n04162706": "seat belt: seat belt, seatbelt, car",
    "n04179913": "sewing machine: sewing machine, sewing",
    "n04192698": "shield: shield, armor",
    "n04201297": "shoji: shoji, paper screen, sliding door",
    "n04204347": "shopping cart: shopping cart, trolley, shopping",
    "n04238763": "slide rule: slide rule, ruler",
    "n04243546": "slot machine: slot machine, one-armed bandit, casino, gambling",
    "n04258138": "solar dish: solar dish, solar collector, solar panel",
    "n04264628": "space bar: space bar, keyboard, computer",
    "n04265275": "space heater: space heater, heater",
    "n04270147": "spatula: spatula, kitchen",
    "n04275548": "spider web: spider web, cobweb, web, spider",
    "n04286575": "spotlight: spotlight, spot, lamp, light",
    "n04310018": "steam locomotive: steam locomotive, steam train, locomotive, train, vehicle",
    "n04344873": "sofa bed: sofa bed, studio couch, couch, sofa, furniture",
    "n04346328": "stupa: stupa, temple, building",
    "n04347754": "submarine: submarine, sub, ship, boat, vehicle",
    "n04350905": "suit: suit, clothing, clothes",
    "n04355933": "sunglass: sunglass, lens, sunglasses",
    "n04356056": "sunglasses: sunglasses, dark glasses, shades, glasses",
    "n04357314": "sunscreen: sunscreen, sunblock, sun cream, lotion",
    "n04367480": "mop: mop, swab, cleaning",
    "n04370456": "sweatshirt: sweatshirt, hoodie, sweater, clothing, clothes",
    "n04371430": "swimming trunks: swimming trunks, bathing trunks, swimsuit, clothing, clothes",
    "n04372370": "switch: switch, light switch, electric switch",
    "n04380533": "table lamp: table lamp, lamp, light",
    "n04389033": "tank: tank, army tank, military, vehicle",
    "n04399382": "teddy bear: teddy bear, teddy, toy",
    "n04404412": "television: television, TV, electronics",
    "n04417672": "thatched roof: thatched roof, thatch, roof, house",
    "n04428191": "threshing machine: threshing machine, thresher, farm machinery",
    "n04429376": "throne: throne, chair, furniture",
    "n04443257": "tobacco shop: tobacco shop, tobacconist, shop, store",
    "n04447861": "toilet seat: toilet seat, toilet, bathroom",
    "n04456115": "torch: torch, flame, fire",
    "n04461696": "tow truck: tow truck, breakdown truck, truck, vehicle",
    "n04462240": "toy shop: toy shop, toyshop, toys, shop, store",
    "n04467665": "trailer truck: trailer truck, semi, lorry, truck, vehicle",
    "n04482393": "tricycle: tricycle, trike, vehicle",
    "n04487081": "trolleybus: trolleybus, trolley bus, bus, vehicle",
    "n04493381": "tub: tub, vat",
    "n04505470": "typewriter keyboard: typewriter keyboard, typewriter, keyboard",
    "n04515003": "upright piano: upright piano, piano, musical instrument, music",
    "n04517823": "vacuum cleaner: vacuum cleaner, vacuum, hoover, appliance",
    "n04522168": "vase: vase, flowers",
    "n04523525": "vault: vault, arch, ceiling",
    "n04525038": "velvet: velvet, fabric",
    "n04525305": "vending machine: vending machine, drinks machine",
    "n04532106": "vestment: vestment, priest, church, clothing",
    "n04536866": "violin: violin, fiddle, musical instrument, music",
    "n04548362": "wallet: wallet, billfold",
    "n04550184": "wardrobe: wardrobe, closet, furniture",
    "n04552348": "warplane: warplane, military plane, fighter jet, airplane, plane, aircraft, vehicle",
    "n04553703": "washbasin: washbasin, sink, bathroom",
    "n04554684": "washing machine: washing machine, washer, laundry, appliance",
    "n04560804": "water jug: water jug, jug",
    "n04579145": "whiskey jug: whiskey jug, jug, whiskey",
    "n04584207": "wig: wig, hair",
    "n04589890": "window screen: window screen, screen, window",
    "n04590129": "window shade: window shade, blind, window",
    "n04591157": "Windsor tie: Windsor tie, necktie, tie, clothing, clothes",
    "n04591713": "wine bottle: wine bottle, wine, bottle, drink",
    "n04592741": "wing: wing, airplane, plane",
    "n04599235": "wool: wool, yarn, knitting",
    "n04604644": "worm fence: worm fence, snake fence, fence",
    "n04606251": "shipwreck: shipwreck, wreck, ship, boat",
    "n04613696": "yurt: yurt, tent",
    "n06359193": "website: website, web site, computer screen, computer",
    "n06794110": "street sign: street sign, sign, road sign, street",
    "n06874185": "traffic light: traffic light, traffic signal, stoplight, street",
    "n07248320": "book jacket: book jacket, dust jacket, book",
    "n07565083": "menu: menu, restaurant, food",
    "n07579787": "plate: plate, meal, food",
    "n07584110": "consomme: consomme, soup, food",
    "n07590611": "hot pot: hot pot, hotpot, stew, dish, food",
    "n07615774": "ice lolly: ice lolly, popsicle, lollipop, dessert, food",
    "n07684084": "French loaf: French loaf, baguette, bread, food",
    "n07693725": "bagel: bagel, bread, food",
    "n07695742": "pretzel: pretzel, snack, food",
    "n07697313": "cheeseburger: cheeseburger, burger, hamburger, fast food, food",
    "n07697537": "hot dog: hot dog, hotdog, sausage, fast food, food",
    "n07711569": "mashed potato: mashed potato, potato, food",
    "n07734744": "mushroom: mushroom, fungus, food",
    "n07742313": "Granny Smith: Granny Smith, apple, fruit, food",
    "n07754684": "jackfruit: jackfruit, fruit, food",
    "n07802026": "hay: hay, straw, farm",
    "n07831146": "carbonara: carbonara, pasta, spaghetti, food",
    "n07836838": "chocolate sauce: chocolate sauce, chocolate, sauce, dessert, food",
    "n07860988": "dough: dough, baking, food",
    "n07871810": "meat loaf: meat loaf, meatloaf, meat, dish, food",
    "n07873807": "pizza: pizza, food",
    "n07875152": "potpie: potpie, pie, dish, food",
    "n07880968": "burrito: burrito, Mexican food, food",
    "n07892512": "red wine: red wine, wine, alcohol, drink",
    "n07920052": "espresso: espresso, coffee, drink",
    "n07930864": "cup: cup, mug, drink",
    "n07932039": "eggnog: eggnog, drink",
    "n09193705": "alp: alp, mountain, landscape, nature",
    "n09229709": "bubble: bubble, soap bubble",
    "n09246464": "cliff: cliff, landscape, nature",
    "n09256479": "coral reef: coral reef, reef, coral, sea, underwater",
    "n09288635": "geyser: geyser, hot spring, landscape, nature",
    "n09332890": "lakeside: lakeside, lake, lakeshore, water, landscape, nature",
    "n09399592": "promontory: promontory, headland, cape, coast, sea, landscape",
    "n09421951": "sandbar: sandbar, sand, beach, water, landscape",
    "n09428293": "seashore: seashore, beach, coast, sea, landscape, nature",
    "n09468604": "valley: valley, landscape, nature",
    "n09472597": "volcano: volcano, mountain, landscape, nature",
    "n09835506": "ballplayer: ballplayer, baseball player, baseball, person, people",
    "n10148035": "groom: groom, bridegroom, wedding, person, people",
    "n10565667": "scuba diver: scuba diver, diver, diving, underwater, person, people",
    "n11879895": "rapeseed: rapeseed, canola, field, flower, plant",
    "n11939491": "daisy: daisy, flower, plant",
    "n12057211": "lady's slipper: lady's slipper, orchid, flower, plant",
    "n12144580": "corn: corn, maize, field, plant",
    "n12267677": "acorn: acorn, nut, oak, plant",
    "n12620546": "rose hip: rose hip, rosehip, plant",
    "n12768682": "buckeye: buckeye, horse chestnut, conker, chestnut, plant",
    "n12985857": "coral fungus: coral fungus, fungus, mushroom",
    "n12998815": "agaric: agaric, fungus, mushroom",
    "n13037406": "gyromitra: gyromitra, false morel, fungus, mushroom",
    "n13040303": "stinkhorn: stinkhorn, fungus, mushroom",
    "n13044778": "earthstar: earthstar, fungus, mushroom",
    "n13052670": "hen-of-the-woods: hen-of-the-woods, maitake, fungus, mushroom",
    "n13054560": "bolete: bolete, porcini, fungus, mushroom",
    "n13133613": "ear of corn: ear of corn, ear, corn, cob, plant",
    "n15075141": "toilet paper: toilet paper, toilet tissue, toilet roll, bathroom",
}

# Hand review. wnid → words added after the class's own names (before hypernym words).
EXTRA: dict[str, str] = {
    "n01498041": "ray",  # stingray
    "n01530575": "finch",  # brambling
    "n01531178": "finch",  # goldfinch
    "n01704323": "dinosaur, fossil",  # triceratops
    "n01768244": "fossil",  # trilobite
    "n01784675": "bug",  # centipede
    "n01806143": "peafowl",  # peacock
    "n02074367": "sea cow",  # dugong
    "n02114367": "wildlife",  # timber wolf
    "n02114548": "wildlife",  # white wolf
    "n02114712": "wildlife",  # red wolf
    "n02117135": "wildlife",  # hyena
    "n02119022": "wildlife",  # red fox
    "n02119789": "wildlife",  # kit fox
    "n02120079": "wildlife",  # Arctic fox
    "n02120505": "wildlife",  # grey fox
    "n02133161": "wildlife",  # American black bear
    "n02134084": "wildlife",  # ice bear
    "n02134418": "wildlife",  # sloth bear
    "n02328150": "pet",  # Angora
    "n02342885": "pet",  # hamster
    "n02364673": "pet",  # guinea pig
    "n02391049": "wildlife",  # zebra
    "n02403003": "farm animal",  # ox
    "n02412080": "farm animal",  # ram
    "n02510455": "bear",  # giant panda
    "n02607072": "clownfish",  # anemone fish
    "n02666196": "calculator",  # abacus
    "n02692877": "blimp, zeppelin",  # airship
    "n02699494": "church",  # altar
    "n02777292": "gymnastics",  # balance beam
    "n02788148": "railing, stairs",  # bannister
    "n02790996": "weight, gym",  # barbell
    "n02793495": "farm",  # barn
    "n02794156": "weather",  # barometer
    "n02799071": "baseball",  # baseball
    "n02802426": "basketball",  # basketball
    "n02804414": "baby, cradle",  # bassinet
    "n02808304": "bathroom",  # bath towel
    "n02808440": "bath, bathroom",  # bathtub
    "n02823428": "beer, drink",  # beer bottle
    "n02823750": "beer, drink",  # beer glass
    "n02834397": "baby",  # bib
    "n02840245": "folder",  # binder
    "n02870880": "books, shelf",  # bookcase
    "n02871525": "books",  # bookshop
    "n02906734": "cleaning",  # broom
    "n02927161": "meat",  # butcher shop
    "n02963159": "clothing",  # cardigan
    "n02966193": "fairground",  # carousel
    "n02978881": "tape",  # cassette
    "n02980441": "building",  # castle
    "n03045698": "clothing",  # cloak
    "n03063689": "coffee",  # coffeepot
    "n03085013": "computer",  # computer keyboard
    "n03125729": "baby",  # cradle
    "n03127747": "motorcycle",  # crash helmet
    "n03146219": "armor",  # cuirass
    "n03179701": "office",  # desk
    "n03180011": "electronics",  # desktop computer
    "n03207743": "kitchen",  # dishrag
    "n03207941": "kitchen",  # dishwasher
    "n03218198": "snow",  # dogsled
    "n03220513": "building",  # dome
    "n03250847": "drum",  # drumstick
    "n03255030": "weight, gym",  # dumbbell
    "n03272562": "train",  # electric locomotive
    "n03290653": "TV, television",  # entertainment center
    "n03291819": "letter, mail",  # envelope
    "n03347037": "fireplace",  # fire screen
    "n03355925": "flag",  # flagpole
    "n03388043": "water",  # fountain
    "n03443371": "wine glass",  # goblet
    "n03445924": "golf",  # golfcart
    "n03450230": "dress",  # gown
    "n03459775": "car",  # grille
    "n03478589": "military",  # half track
    "n03482405": "basket",  # hamper
    "n03492542": "computer",  # hard disc
    "n03527444": "gun",  # holster
    "n03530642": "bee",  # honeycomb
    "n03535780": "gymnastics",  # horizontal bar
    "n03544143": "sand",  # hourglass
    "n03602883": "game",  # joystick
    "n03627232": "rope",  # knot
    "n03633091": "kitchen",  # ladle
    "n03642806": "electronics",  # laptop
    "n03649909": "lawn, garden",  # lawn mower
    "n03661043": "books",  # library
    "n03691459": "electronics",  # loudspeaker
    "n03717622": "street",  # manhole cover
    "n03733805": "kitchen",  # measuring cup
    "n03763968": "soldier",  # military uniform
    "n03764736": "milk",  # milk can
    "n03775546": "kitchen",  # mixing bowl
    "n03777568": "vintage car",  # Model T
    "n03788195": "building",  # mosque
    "n03791053": "motorcycle",  # motor scooter
    "n03792972": "camping",  # mountain tent
    "n03837869": "monument",  # obelisk
    "n03843555": "car",  # oil filter
    "n03868242": "cart",  # oxcart
    "n03888605": "gymnastics",  # parallel bars
    "n03899768": "garden",  # patio
    "n03924679": "copier",  # photocopier
    "n03933933": "sea",  # pier
    "n03937543": "medicine",  # pill bottle
    "n03938244": "bed",  # pillow
    "n03942813": "table tennis",  # ping-pong ball
    "n03944341": "toy",  # pinwheel
    "n03956157": "dome",  # planetarium
    "n04009552": "electronics",  # projector
    "n04041544": "electronics",  # radio
    "n04118538": "sports",  # rugby ball
    "n04146614": "vehicle",  # school bus
    "n04147183": "sailboat",  # schooner
    "n04149813": "sports",  # scoreboard
    "n04208210": "garden",  # shovel
    "n04209239": "bathroom",  # shower curtain
    "n04228054": "skiing, snow, winter sports, sports",  # ski
    "n04229816": "balaclava",  # ski mask
    "n04235860": "camping",  # sleeping bag
    "n04251144": "diving, swimming",  # snorkel
    "n04252077": "snow",  # snowmobile
    "n04252225": "snow",  # snowplow
    "n04254120": "soap, bathroom",  # soap dispenser
    "n04254680": "football, soccer, sports",  # soccer ball
    "n04259630": "Mexico",  # sombrero
    "n04263257": "soup, kitchen",  # soup bowl
    "n04266014": "spacecraft, rocket",  # space shuttle
    "n04273569": "motorboat",  # speedboat
    "n04296562": "theater, concert",  # stage
    "n04311004": "steel bridge",  # steel arch bridge
    "n04317175": "doctor, medicine",  # stethoscope
    "n04325704": "scarf",  # stole
    "n04326547": "wall",  # stone wall
    "n04328186": "watch, timer, clock",  # stopwatch
    "n04330267": "kitchen",  # stove
    "n04332243": "sieve, kitchen",  # strainer
    "n04335435": "train",  # streetcar
    "n04336792": "medical",  # stretcher
    "n04355338": "clock",  # sundial
    "n04371774": "playground",  # swing
    "n04376876": "needle, medicine",  # syringe
    "n04398044": "tea",  # teapot
    "n04409515": "tennis, sports",  # tennis ball
    "n04418357": "theater, stage",  # theater curtain
    "n04423845": "sewing",  # thimble
    "n04435653": "house",  # tile roof
    "n04465501": "farm",  # tractor
    "n04476259": "kitchen",  # tray
    "n04483307": "boat",  # trimaran
    "n04485082": "camera",  # tripod
    "n04501370": "gate",  # turnstile
    "n04507155": "rain",  # umbrella
    "n04540053": "sports",  # volleyball
    "n04542943": "waffle",  # waffle iron
    "n04557648": "drink",  # water bottle
    "n04562935": "tower",  # water tower
    "n04596742": "wok",  # wok
    "n04597913": "kitchen",  # wooden spoon
    "n04612504": "sailboat",  # yawl
    "n06596364": "comics, book",  # comic book
    "n06785654": "newspaper",  # crossword puzzle
    "n07730033": "artichoke",  # cardoon
}

# Hand review. wnid → words removed from the generated row.
DROP: dict[str, str] = {
    "n01484850": "man-eater",  # great white shark
    "n01742172": "Constrictor constrictor",  # boa constrictor (a scientific name)
    "n01872401": "spiny anteater, anteater",  # echidna
    "n01882714": "kangaroo bear",  # koala
    "n02018207": "marsh hen, mud hen",  # American coot
    "n02066245": "devilfish",  # grey whale
    "n02071294": "killer",  # killer whale
    "n02110341": "coach dog, carriage dog",  # dalmatian
    "n02110627": "monkey pinscher, monkey dog",  # affenpinscher
    "n02138441": "mierkat",  # meerkat
    "n02226429": "hopper",  # grasshopper
    "n02256656": "cicala",  # cicada
    "n02321529": "holothurian",  # sea cucumber
    "n02398521": "river horse",  # hippopotamus
    "n02457408": "ai",  # three-toed sloth
    "n02769748": "back pack",  # backpack
    "n02795169": "cask",  # barrel
    "n02835271": "velocipede",  # bicycle-built-for-two
    "n02837789": "two-piece",  # bikini
    "n03000684": "saw",  # chain saw
    "n03028079": "church building",  # church
    "n03095699": "container vessel, vessel",  # container ship
    "n03584829": "smoothing iron",  # iron
    "n03658185": "paperknife",  # letter opener
    "n03724870": "clothing, clothes",  # mask
    "n03770439": "mini",  # miniskirt
    "n03814639": "brace",  # neck brace
    "n03888257": "chute",  # parachute
    "n03908714": "sharpener",  # pencil sharpener
    "n04254777": "clothing",  # sock
    "n07753275": "ananas",  # pineapple
}
